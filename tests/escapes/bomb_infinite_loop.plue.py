# technique: an endless `while True: pass`
# expect: timeout
def workflow():
    while True:  # <-
        pass  # <-
