# technique: attribute of an exception class (`Exception.with_traceback`)
# expect: forbidden
def workflow():
    return Exception.with_traceback  # <-
