# technique: an exception's `__context__` chain
# expect: forbidden
def workflow():
    try:
        1 / 0
    except ZeroDivisionError as e:
        return e.__context__  # <-
