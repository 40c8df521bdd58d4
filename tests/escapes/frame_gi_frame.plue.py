# technique: a generator's `gi_frame`
# expect: forbidden
def workflow():
    gen = (x for x in [1])
    return gen.gi_frame.f_back.f_globals  # <-
