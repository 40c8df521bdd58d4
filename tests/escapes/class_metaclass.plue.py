# technique: a class with a metaclass keyword
# expect: forbidden
class Evil(metaclass=type):  # <-
    pass


def workflow():
    return Plan("x")
