# technique: `workflow` as a generator function
# expect: plan
def workflow():  # <-
    yield Plan("x")
