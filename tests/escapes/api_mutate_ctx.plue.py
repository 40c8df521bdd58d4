# technique: `ctx.event.name = ...` (ctx is read-only)
# expect: forbidden
def workflow(ctx):
    ctx.event.name = "release"  # <-
    return Plan("x")
