# technique: `str()` of a list that contains itself (unbounded walk)
# expect: forbidden
def workflow():
    items = []
    items.append(items)
    return Plan(str(items))  # <-
