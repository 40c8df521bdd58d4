# technique: `e.obj` of an AttributeError (the object the lookup failed on)
# expect: forbidden
def workflow():
    try:
        (1).missing
    except AttributeError as e:
        return e.obj  # <-
