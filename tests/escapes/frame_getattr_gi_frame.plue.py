# technique: `getattr(gen, 'gi_frame')` with a computed name
# expect: forbidden
def workflow():
    gen = (x for x in [1])
    frame = getattr(gen, "gi_" + "frame")  # <-
    return frame
