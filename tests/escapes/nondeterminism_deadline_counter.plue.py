# technique: catch the wall-clock deadline (bare except) and return how far a loop got
# expect: timeout
def workflow():
    n = 0
    try:
        while True:  # <-
            n += 1  # <-
    except:  # noqa: E722
        pass
    return Plan(str(n))
