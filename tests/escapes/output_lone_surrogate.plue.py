# technique: a lone surrogate in a step command
# expect: limit
def workflow():
    return Plan("x", steps=[Step.bash("a", "echo \ud800")])
