# technique: `workflow` bound to a builtin (a callable that is not a function)
# expect: plan
workflow = list
