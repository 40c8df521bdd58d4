# technique: `globals` builtin, to reach the module namespace
# expect: forbidden
def workflow():
    return Plan(globals()["__builtins__"])  # <-
