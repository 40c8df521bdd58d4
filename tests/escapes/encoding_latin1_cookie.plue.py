# technique: a latin-1 coding cookie (any cookie but UTF-8 is refused)
# vim: set fileencoding=latin-1 :  # <-
# expect: input
def workflow():
    return Plan('café')
