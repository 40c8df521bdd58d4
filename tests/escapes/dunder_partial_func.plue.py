# technique: `'{}'.format` is a wrapper; read its `.func` to get the real str.format
# expect: forbidden
def workflow():
    real = "{}".format.func  # <-
    return Plan(real("{0.__class__}", 1))
