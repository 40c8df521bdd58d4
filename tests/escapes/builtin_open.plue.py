# technique: `open` builtin, to read a file
# expect: forbidden
def workflow():
    return Plan(open("/etc/passwd").read())  # <-
