# technique: `type(ctx)` to reach the ctx class
# expect: forbidden
def workflow(ctx):
    return type(ctx)  # <-
