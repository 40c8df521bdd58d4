# technique: `print(1, 2, sep=function)`: the separator is formatted too
# expect: runtime
def workflow():
    print(1, 2, sep=workflow)  # <-
    return Plan(printed)
