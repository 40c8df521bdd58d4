# technique: `getattr(f, '__kwdefaults__')` on a function with defaults
# expect: forbidden
def helper(*, x=1):
    return x


def workflow():
    return getattr(helper, "__kw" + "defaults__")  # <-
