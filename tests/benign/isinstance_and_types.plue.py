# ctx: none
from plue import Plan, Step


def normalise(value):
    if isinstance(value, str):
        return [value]
    if type(value) is list:
        return [str(item) for item in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [str(value)]
    if value is None:
        return []
    return ["other"]


def workflow():
    values = ["one", ["two", 3], 4, 2.5, None, True]
    flat = []
    for value in values:
        flat.extend(normalise(value))
    text, number, items, table, tags = "x", 1, [], {}, {1}
    checks = [type(text) is str, type(number) is int, type(items) is list, isinstance(table, dict), type(tags) is set]
    return Plan("types", steps=[Step.bash("echo", " ".join(flat))], env={"CHECKS": str(checks)})
