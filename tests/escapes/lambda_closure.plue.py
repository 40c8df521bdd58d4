# technique: a lambda's captured cell via `__closure__`
# expect: forbidden
def workflow():
    secret = "x"
    grab = lambda: secret  # noqa: E731
    return getattr(grab, "__closure__")  # <-
