# technique: getattr with a fullwidth-underscore string that NFKC-normalises to `__class__`
# expect: forbidden
def workflow():
    return getattr((), "\uff3f\uff3fclass\uff3f\uff3f")  # <-
