# technique: `str()` of a function
# expect: forbidden
def workflow():
    return Plan(str(workflow))  # <-
