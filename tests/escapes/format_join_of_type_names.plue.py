# technique: `str(type)` of a type object
# expect: forbidden
def workflow():
    return Plan(str(type(1)))  # <-
