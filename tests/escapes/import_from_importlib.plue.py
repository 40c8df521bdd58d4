# technique: `from importlib import import_module`
# expect: forbidden
from importlib import import_module  # <-


def workflow():
    return import_module("subprocess")
