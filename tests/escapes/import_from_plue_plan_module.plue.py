# technique: `from plue import plan` to reach the real plue.plan module (and its imports)
# expect: forbidden
from plue import plan  # <-


def workflow():
    return plan.json.loads("{}")
