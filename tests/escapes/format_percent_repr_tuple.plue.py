# technique: `'%r' % (function,)`
# expect: forbidden
def helper():
    pass


def workflow():
    return Plan("%r" % (helper,))  # <-
