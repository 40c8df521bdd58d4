# technique: `id` builtin, to get an address (nondeterminism)
# expect: forbidden
def workflow():
    return Plan(str(id(workflow)))  # <-
