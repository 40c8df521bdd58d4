# technique: `dir` builtin, to list names
# expect: forbidden
def workflow():
    return Plan(dir())  # <-
