# technique: `'a' * 10**10`
# expect: memory
def workflow():
    return Plan("a" * 10**10)  # <-
