# technique: `import importlib` then import_module('os')
# expect: forbidden
import importlib  # <-


def workflow():
    return importlib.import_module("os")
