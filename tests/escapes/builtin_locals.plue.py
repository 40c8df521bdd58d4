# technique: `locals` builtin, to inspect the frame
# expect: forbidden
def workflow():
    return Plan(locals())  # <-
