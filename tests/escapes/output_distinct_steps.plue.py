# technique: 1001 distinct steps (one over the cap)
# expect: limit
def workflow():
    return Plan("x", steps=[Step.bash(f"s{i}", "echo") for i in range(1001)])
