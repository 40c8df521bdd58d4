# technique: attribute of the PlanError class (a type that is not plain data)
# expect: forbidden
def workflow():
    return PlanError.mro()  # <-
