# technique: relative import `from . import x`
# expect: forbidden
from . import helpers  # <-


def workflow():
    return helpers.plan()
