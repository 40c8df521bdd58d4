# technique: `d.keys() | set()`: a dict view makes a new set of arbitrary keys
# expect: forbidden
def workflow():
    table = {(lambda i=i: i): i for i in range(300)}
    keys = table.keys() | set()  # <-
    return Plan("x", description=",".join([str(f()) for f in keys]))
