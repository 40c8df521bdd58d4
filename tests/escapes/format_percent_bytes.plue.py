# technique: `b'%r' % function` (bytes %-formatting)
# expect: forbidden
def workflow():
    return Plan(str(b"%r" % workflow))  # <-
