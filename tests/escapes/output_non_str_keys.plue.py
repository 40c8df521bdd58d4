# technique: a dict with non-str keys in the plan
# expect: plan
def workflow():
    return Plan("x", steps=[Step.llm("a", "p", inputs={1: "x"})])  # <-
