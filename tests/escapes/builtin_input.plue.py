# technique: `input` builtin, to read stdin
# expect: forbidden
def workflow():
    return Plan(input())  # <-
