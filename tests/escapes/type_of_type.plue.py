# technique: `type(Step)` (the metaclass)
# expect: forbidden
def workflow():
    return type(Step)  # <-
