# technique: `__builtins__['__import__']` to fetch the real importer
# expect: forbidden
def workflow():
    real = __builtins__["__import__"]  # <-
    return real("os")
