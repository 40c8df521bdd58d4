# technique: `format(function, '')`
# expect: forbidden
def workflow():
    return Plan(format(workflow, ""))  # <-
