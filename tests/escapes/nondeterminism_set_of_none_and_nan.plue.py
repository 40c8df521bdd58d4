# technique: a set holding NaN (NaN hashes by address)
# expect: forbidden
def workflow():
    values = {float("nan"), float("nan"), 1.0}  # <-
    return Plan(str(len(values)))
