# technique: `type(1).mro()` after type() of a plain value
# expect: forbidden
def workflow():
    kind = type(1)
    return Plan(str(kind.mro()))  # <-
