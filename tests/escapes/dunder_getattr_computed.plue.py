# technique: getattr with a computed name `'_' + '_class__'`
# expect: forbidden
def workflow():
    name = "_" + "_class__"
    return getattr((), name)  # <-
