# technique: `ctx['event'] = ...` item assignment on ctx
# expect: forbidden
def workflow(ctx):
    ctx["event"] = None  # <-
    return Plan("x")
