# technique: write a canary file with `open`
# expect: forbidden
def workflow():
    with open("/tmp/plue-escape-canary", "w") as handle:  # <-
        handle.write("escaped")
    return Plan("x")
