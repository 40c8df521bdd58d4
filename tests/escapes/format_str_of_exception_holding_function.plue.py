# technique: `str(e)` of an exception whose args hold a function
# expect: forbidden
def workflow():
    try:
        {}[workflow]
    except KeyError as e:
        return Plan(str(e))  # <-
