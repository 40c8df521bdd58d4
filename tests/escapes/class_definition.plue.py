# technique: a `class` statement
# expect: forbidden
class Evil:  # <-
    pass


def workflow():
    return Evil
