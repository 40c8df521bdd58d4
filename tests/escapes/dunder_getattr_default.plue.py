# technique: getattr with a default, hoping a refused name falls back quietly
# expect: forbidden
def workflow():
    cls = getattr((), "__class__", None)  # <-
    return Plan(str(cls is None))
