# technique: an attribute lookup hidden in a nested format spec `{0:{1.__class__}}`
# expect: forbidden
def workflow():
    return Plan("{0:{1.real}}".format(1, 2))  # <-
