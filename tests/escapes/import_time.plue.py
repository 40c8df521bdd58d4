# technique: `import time` for a nondeterministic plan
# expect: forbidden
import time  # <-


def workflow():
    return Plan(str(time.time()))
