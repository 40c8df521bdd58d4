# technique: `getattr(len, '__self__')`: a builtin's `__self__` is the builtins module
# expect: forbidden
def workflow():
    module = getattr(len, "__self__")  # <-
    return module.open
