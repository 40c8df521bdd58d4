# technique: `plue.__dict__` / computed private attribute of the `import plue` facade
# expect: forbidden
import plue


def workflow():
    return getattr(plue, "_public_attrs")  # <-
