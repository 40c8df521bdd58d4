# technique: returning a list of steps instead of a Plan
# expect: plan
def workflow():  # <-
    return [Step.bash("a", "echo")]
