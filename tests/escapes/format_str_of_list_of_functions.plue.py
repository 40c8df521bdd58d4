# technique: `str()` of a list holding a function
# expect: forbidden
def workflow():
    return Plan(str([1, 2, workflow]))  # <-
