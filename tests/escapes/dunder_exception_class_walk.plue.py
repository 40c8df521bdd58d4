# technique: `Exception.__subclasses__()` from an exception class
# expect: forbidden
def workflow():
    return Exception.__subclasses__()  # <-
