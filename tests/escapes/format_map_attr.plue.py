# technique: `format_map` with an attribute field
# expect: forbidden
def workflow():
    return Plan("{x.__class__.__mro__}".format_map({"x": 1}))  # <-
