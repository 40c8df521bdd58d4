# technique: f-string `!r` of a function to leak its address
# expect: forbidden
def workflow():
    return Plan(f"{workflow!r}")  # <-
