# technique: a ctx helper method (`ctx.describe_missing`) as an attribute
# expect: runtime
def workflow(ctx):
    return Plan(ctx.describe_missing("x"))  # <-
