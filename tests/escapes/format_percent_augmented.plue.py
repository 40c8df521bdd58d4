# technique: `s %= function` (augmented %-formatting)
# expect: forbidden
def workflow():
    text = "%s"
    text %= workflow  # <-
    return Plan(text)
