# technique: attribute assignment on a Step object
# expect: forbidden
def workflow():
    step = Step.bash("a", "echo")
    step.cmd = "rm -rf /"  # <-
    return Plan("x", steps=[step])
