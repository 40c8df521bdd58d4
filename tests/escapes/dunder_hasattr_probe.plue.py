# technique: hasattr() of a private name to probe internals
# expect: forbidden
def workflow():
    return Plan(str(hasattr(workflow, "__globals__")))  # <-
