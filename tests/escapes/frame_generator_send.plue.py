# technique: a generator's `send`/`throw` methods
# expect: forbidden
def workflow():
    gen = (x for x in [1])
    return gen.throw(ValueError)  # <-
