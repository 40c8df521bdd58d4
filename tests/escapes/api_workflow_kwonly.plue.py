# technique: `workflow(*, ctx)` asking for keyword arguments
# expect: plan
def workflow(*, ctx):  # <-
    return Plan("x")
