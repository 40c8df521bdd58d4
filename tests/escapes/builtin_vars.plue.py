# technique: `vars` builtin, to inspect the namespace
# expect: forbidden
def workflow():
    return Plan(vars())  # <-
