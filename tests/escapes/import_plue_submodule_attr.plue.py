# technique: `import plue` then reach a submodule as an attribute of the facade
# expect: runtime
import plue


def workflow():
    return plue.sandbox.guards  # <-
