# technique: a default argument captured then read back via `__defaults__`
# expect: forbidden
def workflow(marker=lambda: 0):
    return workflow.__defaults__  # <-
