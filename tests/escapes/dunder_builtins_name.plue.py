# technique: the `__builtins__` global
# expect: forbidden
def workflow():
    return Plan(str(__builtins__))  # <-
