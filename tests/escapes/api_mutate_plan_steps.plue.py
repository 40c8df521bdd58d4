# technique: appending to `plan.steps` (a tuple) after validation
# expect: runtime
def workflow():
    plan = Plan("x")
    plan.steps.append(Step.bash("a", "echo"))  # <-
    return plan
