# technique: a builtin used as a decorator (`@type`) to get a function's type
# expect: forbidden
@type  # <-
def workflow():
    return Plan("x")
