# technique: a set (not plain JSON) inside llm inputs
# expect: plan
def workflow():
    return Plan("x", steps=[Step.llm("a", "p", inputs={"k": {"a", "b"}})])  # <-
