# technique: `'%s' % function` to print a function (its address)
# expect: forbidden
def workflow():
    return Plan("%s" % workflow)  # <-
