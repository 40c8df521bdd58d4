# technique: `object` builtin, to reach the base class
# expect: forbidden
def workflow():
    return Plan(object.__subclasses__())  # <-
