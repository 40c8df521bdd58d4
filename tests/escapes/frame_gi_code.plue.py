# technique: a generator's `gi_code`
# expect: forbidden
def workflow():
    def gen():
        yield 1

    return gen().gi_code  # <-
