# technique: the classic `().__class__.__bases__[0].__subclasses__()` walk
# expect: forbidden
def workflow():
    classes = ().__class__.__bases__[0].__subclasses__()  # <-
    return Plan(str(len(classes)))
