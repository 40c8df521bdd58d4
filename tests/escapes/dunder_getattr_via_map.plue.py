# technique: getattr applied through map() with a dunder name
# expect: forbidden
def workflow():
    found = list(map(getattr, [()], ["__class__"]))  # <-
    return Plan(str(found))
