# technique: `breakpoint` builtin, to start a debugger
# expect: forbidden
def workflow():
    return Plan(breakpoint())  # <-
