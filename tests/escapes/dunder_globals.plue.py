# technique: a function's `__globals__` (the module namespace and its builtins)
# expect: forbidden
def helper():
    return 1


def workflow():
    return helper.__globals__["__builtins__"]  # <-
