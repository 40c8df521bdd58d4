# technique: `print(..., file=...)` to write somewhere else
# expect: forbidden
def workflow():
    print("x", file=open("/tmp/plue-escape-canary", "w"))  # <-
    return Plan("x")
