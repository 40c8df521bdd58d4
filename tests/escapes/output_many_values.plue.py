# technique: 300k values inside llm inputs
# expect: limit
def workflow():
    return Plan("x", steps=[Step.llm("a", "p", inputs={"k": list(range(300000))})])
