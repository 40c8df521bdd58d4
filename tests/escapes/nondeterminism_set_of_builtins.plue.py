# technique: `set([...builtins])` order depends on addresses
# expect: forbidden
def workflow():
    names = [len, abs, min, max, sorted, sum, any, all, zip]
    order = set(names)  # <-
    return Plan("x", description=",".join([str(names.index(f)) for f in order]))
