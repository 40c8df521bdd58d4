# technique: `'{0[__builtins__]}'.format(globals-like)`: str.format item lookup
# expect: forbidden
def workflow():
    return Plan("{0[__builtins__]}".format({"__builtins__": 1}))  # <-
