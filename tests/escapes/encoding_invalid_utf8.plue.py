# technique: invalid UTF-8 bytes in the source
# expect: input
def workflow():
    return Plan('ÿþ')  # <-
