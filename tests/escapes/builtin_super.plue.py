# technique: `super` builtin, to class machinery
# expect: forbidden
def workflow():
    return Plan(super())  # <-
