# technique: infinity in the plan
# expect: plan
def workflow():
    return Plan("x", steps=[Step.llm("a", "p", inputs={"x": float("-inf")})])  # <-
