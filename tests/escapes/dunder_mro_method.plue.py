# technique: `int.mro()` (no underscore) to list base classes
# expect: forbidden
def workflow():
    bases = int.mro()  # <-
    return Plan(str(len(bases)))
