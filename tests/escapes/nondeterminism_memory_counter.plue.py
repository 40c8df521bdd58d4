# technique: catch the MemoryError (bare except) and return how much could be allocated before it
# expect: memory
def workflow():
    chunks = []
    try:
        while True:
            chunks.append("x" * 10**7)  # <-
    except:  # noqa: E722
        pass
    return Plan(str(len(chunks)))
