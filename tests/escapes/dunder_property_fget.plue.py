# technique: the property object behind `Step.id`, then its `fget`
# expect: forbidden
def workflow():
    prop = Step.id
    return Plan(str(prop.fget))  # <-
