# technique: unbound `str.format(template, value)`
# expect: forbidden
def workflow():
    return Plan(str.format("{0.__class__.__base__}", 1))  # <-
