# technique: `import random` for a nondeterministic plan
# expect: forbidden
from random import random  # <-


def workflow():
    return Plan(str(random()))
