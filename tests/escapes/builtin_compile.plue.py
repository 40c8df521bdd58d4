# technique: `compile` builtin, to compile code
# expect: forbidden
def workflow():
    return Plan(compile("1", "f", "eval"))  # <-
