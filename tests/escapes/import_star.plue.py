# technique: `from plue import *` to pull in everything plue's namespace holds
# expect: forbidden
from plue import *  # <-


def workflow():
    return Plan("x")
