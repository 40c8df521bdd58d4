# technique: `ctx['_fields']` item access to ctx internals
# expect: runtime
def workflow(ctx):
    return Plan(str(ctx["_fields"]))  # <-
