# technique: `match` class pattern on `str(...)` with keyword attributes
# expect: forbidden
def workflow():
    match "x":  # <-
        case str(upper=u):
            return Plan(u())
