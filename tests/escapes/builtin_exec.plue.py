# technique: `exec` builtin, to run dynamic code
# expect: forbidden
def workflow():
    return Plan(exec("import os"))  # <-
