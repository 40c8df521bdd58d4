# technique: a 100 MB cmd string
# expect: limit
def workflow():
    return Plan("x", steps=[Step.bash("a", "a" * 100_000_000)])
