# technique: any public attribute of a lambda (functions have none here)
# expect: forbidden
def workflow():
    return Plan((lambda: 0).name)  # <-
