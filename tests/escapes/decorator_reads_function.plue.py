# technique: a decorator that reads the decorated function's internals
# expect: forbidden
def grab(func):
    return getattr(func, "__globals__")  # <-


@grab
def workflow():
    return Plan("x")
