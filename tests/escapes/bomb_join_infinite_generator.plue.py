# technique: `''.join()` of an endless generator of strings
# expect: memory|timeout|cpu
def workflow():
    def forever():
        while True:
            yield "x" * 10**6  # <-

    return Plan("".join(forever()))  # <-
