# technique: f-string `{f=}` self-documenting field (implicit repr)
# expect: forbidden
def workflow():
    return Plan(f"{workflow=}")  # <-
