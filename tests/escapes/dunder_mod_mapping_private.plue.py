# technique: `'%(_fields)s' % ctx`: %-formatting looks keys up in ctx
# expect: runtime
def workflow(ctx):
    return Plan("%(_fields)s" % ctx)  # <-
