# technique: `10**10**10`
# expect: timeout|cpu|memory
def workflow():
    return Plan(str(10**10**10))  # <-
