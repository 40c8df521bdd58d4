# technique: `memoryview` builtin, to raw memory
# expect: forbidden
def workflow():
    return Plan(memoryview(b"x"))  # <-
