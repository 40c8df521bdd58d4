# technique: a real CPython 3.11 crasher: 300k nested map() iterators, then next() overflows the C stack
# expect: crash
def workflow():
    it = iter([])
    for _ in range(300000):
        it = map(abs, it)
    next(it)
    return Plan("x")
