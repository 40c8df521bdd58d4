# technique: iteration order of a set of lambdas (hash = memory address)
# expect: forbidden
def workflow():
    funcs = {(lambda i=i: i) for i in range(500)}  # <-
    return Plan("x", description=",".join([str(f()) for f in funcs]))
