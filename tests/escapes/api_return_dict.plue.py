# technique: returning a dict shaped like a plan instead of a Plan
# expect: plan
def workflow():  # <-
    return {"name": "x", "steps": [{"id": "a", "type": "bash", "cmd": "id"}]}
