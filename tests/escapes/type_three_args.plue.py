# technique: `type(name, bases, dict)` to make a class
# expect: forbidden
def workflow():
    Evil = type("Evil", (), {"x": 1})  # <-
    return Evil
