# technique: `help` builtin, to start the help system (imports pydoc)
# expect: forbidden
def workflow():
    return Plan(help())  # <-
