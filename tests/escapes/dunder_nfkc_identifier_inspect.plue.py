# technique: an identifier in mathematical letters that NFKC-normalises to `gi_frame`
# expect: forbidden
def workflow():
    def gen():
        yield 1

    return gen().𝗀𝗂_frame  # <-
