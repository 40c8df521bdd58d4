# technique: module `__loader__` / `__spec__.loader` to load modules by hand
# expect: forbidden
def workflow():
    return __spec__.loader.load_module("os")  # <-
