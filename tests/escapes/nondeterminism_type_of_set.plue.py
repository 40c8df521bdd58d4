# technique: `type(s)(items)` to call the real set type and skip the check
# expect: forbidden
def workflow():
    make = type({1})
    funcs = make([len, abs, min])  # <-
    return Plan(str(len(funcs)))
