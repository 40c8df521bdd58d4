# technique: assigning to a guard-like name (`_getattr_ = getattr`)
# expect: forbidden
_getattr_ = lambda obj, name: obj  # noqa: E731  # <-


def workflow():
    return ().__class__
