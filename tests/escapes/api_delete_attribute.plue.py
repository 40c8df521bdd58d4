# technique: `del Step.bash`
# expect: forbidden
def workflow():
    del Step.bash  # <-
    return Plan("x")
