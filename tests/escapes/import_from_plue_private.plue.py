# technique: `from plue import __builtins__` (a name the facade does not export)
# expect: forbidden
from plue import __builtins__  # <-


def workflow():
    return __builtins__
