# technique: `s.add(function)` into an existing set
# expect: forbidden
def workflow():
    seen = set()
    seen.add(workflow)  # <-
    return Plan(str(len(seen)))
