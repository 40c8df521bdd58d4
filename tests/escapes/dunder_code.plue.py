# technique: a function's `__code__` (code objects, constants, replace())
# expect: forbidden
def workflow():
    code = workflow.__code__  # <-
    return Plan(code.co_filename)
