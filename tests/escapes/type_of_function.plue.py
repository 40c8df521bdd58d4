# technique: `type(f)` of a function (FunctionType can build functions from code)
# expect: forbidden
def workflow():
    FunctionType = type(workflow)  # <-
    return FunctionType
