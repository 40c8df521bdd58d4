# technique: an endless loop that catches every exception (incl. the deadline) and loops again
# expect: timeout|cpu
def workflow():
    while True:
        try:
            while True:
                pass
        except:  # noqa: E722
            pass
