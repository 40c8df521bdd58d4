# technique: deeply nested inputs dict
# expect: plan
def workflow():
    data = {}
    for _ in range(100):
        data = {"a": data}
    return Plan("x", steps=[Step.llm("a", "p", inputs=data)])  # <-
