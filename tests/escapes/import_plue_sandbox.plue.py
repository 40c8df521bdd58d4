# technique: `import plue.sandbox` to reach the sandbox itself
# expect: forbidden
import plue.sandbox  # <-


def workflow():
    return plue.sandbox.guards
