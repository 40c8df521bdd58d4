# technique: the `str` builtin is a stand-in: read its `.real` / `.make`
# expect: runtime
def workflow():
    return Plan(str.make(workflow))  # <-
