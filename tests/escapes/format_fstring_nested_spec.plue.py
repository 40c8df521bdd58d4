# technique: a function smuggled into an f-string format spec `{1:{f}}`
# expect: forbidden
def workflow():
    return Plan(f"{1:{workflow}}")  # <-
