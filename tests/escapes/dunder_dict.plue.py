# technique: `Plan.__dict__` to read class internals
# expect: forbidden
def workflow():
    return Plan.__dict__["__init__"]  # <-
