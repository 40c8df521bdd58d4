# technique: `setattr(Plan, ...)`
# expect: forbidden
def workflow():
    setattr(Plan, "name", "x")  # <-
    return Plan("x")
