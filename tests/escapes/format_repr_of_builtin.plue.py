# technique: `repr()` of a builtin (`repr(getattr)` names the guard)
# expect: forbidden
def workflow():
    return Plan(repr(getattr))  # <-
