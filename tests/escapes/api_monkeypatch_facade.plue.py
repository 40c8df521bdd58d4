# technique: `plue.Step = ...` monkeypatching the facade
# expect: forbidden
import plue


def workflow():
    plue.Step = None  # <-
    return Plan("x")
