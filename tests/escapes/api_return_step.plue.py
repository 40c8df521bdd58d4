# technique: returning a Step (a facade object that is not a Plan)
# expect: plan
def workflow():  # <-
    return Step.bash("a", "echo")
