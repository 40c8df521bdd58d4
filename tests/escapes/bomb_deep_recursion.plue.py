# technique: unbounded recursion
# expect: runtime
def down(n):
    return down(n + 1)  # <-


def workflow():
    return down(0)
