# technique: `StopIteration.value` (only `args` is readable on exceptions)
# expect: forbidden
def workflow():
    def gen():
        return 5
        yield

    try:
        next(gen())
    except StopIteration as e:
        return Plan(str(e.value))  # <-
