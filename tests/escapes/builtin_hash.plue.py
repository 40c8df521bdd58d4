# technique: `hash` builtin, to hash by address (nondeterminism)
# expect: forbidden
def workflow():
    return Plan(str(hash(workflow)))  # <-
