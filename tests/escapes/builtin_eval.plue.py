# technique: `eval` builtin, to run dynamic code
# expect: forbidden
def workflow():
    return Plan(eval("1"))  # <-
