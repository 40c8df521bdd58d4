# technique: getattr inside a sorted() key lambda
# expect: forbidden
def workflow():
    items = sorted([1, 2], key=lambda x: getattr(x, "__class__"))  # <-
    return Plan(str(items))
