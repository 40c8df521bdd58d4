# technique: recursion error caught and retried forever
# expect: timeout|cpu
def down(n):
    return down(n + 1)


def workflow():
    while True:
        try:
            down(0)
        except RecursionError:
            pass
