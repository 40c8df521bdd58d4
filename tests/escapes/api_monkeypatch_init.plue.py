# technique: `Plan.__init__ = ...`
# expect: forbidden
def workflow():
    Plan.__init__ = None  # <-
    return Plan("x")
