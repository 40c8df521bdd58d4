# technique: `Step({...})` built by hand with an unchecked dict
# expect: plan
def workflow():
    return Plan("x", steps=[Step({"id": "../../etc", "type": "bash", "cmd": 1})])  # <-
