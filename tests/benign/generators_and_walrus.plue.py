# ctx: none
from plue import Plan, Step


def chunks(items, size):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def workflow():
    files = [f"test_{i}.py" for i in range(10)]
    steps = []
    for number, group in enumerate(chunks(files, 4)):
        if (count := len(group)) > 0:
            steps.append(Step.bash(f"shard-{number}", "pytest " + " ".join(group), env={"N": count}))
    gen = (len(step.id) for step in steps)
    first = next(gen)
    rest = list(gen)
    a, b = 1, 2
    a, b = b, a
    (x, y), z = ("p", "q"), "r"
    return Plan("generators", steps=steps, env={"FIRST": first, "REST": str(rest), "SWAP": f"{a}{b}{x}{y}{z}"})
