# technique: import of a module with a computed name inside a function (`import sys` late)
# expect: forbidden
def workflow():
    import sys  # <-
    return sys.modules["os"]
