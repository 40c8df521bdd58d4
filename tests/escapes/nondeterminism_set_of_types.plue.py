# technique: iteration order of `{int, str, float}` (types hash by address)
# expect: forbidden
def workflow():
    kinds = [int, float, list, dict, tuple]
    seen = {k for k in kinds}  # <-
    return Plan("x", description=",".join([str(kinds.index(k)) for k in seen]))
