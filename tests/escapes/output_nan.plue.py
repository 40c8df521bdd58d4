# technique: NaN in the plan
# expect: plan
def workflow():
    return Plan("x", steps=[Step.llm("a", "p", inputs={"x": float("nan")})])  # <-
