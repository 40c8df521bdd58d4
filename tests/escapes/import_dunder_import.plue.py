# technique: `__import__('os')` called directly
# expect: forbidden
def workflow():
    return __import__("os").system("id")  # <-
