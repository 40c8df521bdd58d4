# technique: `ascii()` of an iterator object
# expect: forbidden
def workflow():
    return Plan(ascii(iter([1])))  # <-
