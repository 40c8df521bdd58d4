# technique: an async generator's `ag_frame`
# expect: forbidden
def workflow():
    gen = helper()
    return gen.ag_frame.f_back  # <-
