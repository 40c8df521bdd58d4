# technique: f-string of a generator object (address)
# expect: forbidden
def workflow():
    gen = (x for x in range(3))
    return Plan(f"{gen}")  # <-
