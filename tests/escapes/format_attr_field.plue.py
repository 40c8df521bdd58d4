# technique: `'{0.__class__}'.format(x)`: str.format reads attributes itself
# expect: forbidden
def workflow():
    return Plan("{0.__class__}".format(1))  # <-
