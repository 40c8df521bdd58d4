# technique: a list growing without bound
# expect: memory
def workflow():
    chunks = []
    while True:
        chunks.append("x" * 10**6)  # <-
