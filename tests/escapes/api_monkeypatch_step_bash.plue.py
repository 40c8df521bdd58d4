# technique: `Step.bash = ...` monkeypatching the API class
# expect: forbidden
def workflow():
    Step.bash = lambda *a: None  # <-
    return Plan("x")
