# technique: a plan with 10^5 steps
# expect: limit
def workflow():
    step = Step.bash("a", "echo")
    return Plan("x", steps=[step] * 100000)
