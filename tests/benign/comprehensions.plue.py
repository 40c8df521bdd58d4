# ctx: none
from plue import Plan, Step

SERVICES = ["api", "web", "worker", "api"]


def workflow():
    unique = sorted({name for name in SERVICES})
    lengths = {name: len(name) for name in unique}
    total = sum(length for length in lengths.values())
    pairs = [(a, b) for a in unique for b in unique if a < b]
    nested = [[i * j for j in range(3)] for i in range(3)]
    steps = [Step.bash(f"build-{name}", f"make {name}") for name in unique if lengths[name] > 2]
    return Plan(
        "comprehensions",
        steps=steps,
        env={
            "TOTAL": total,
            "PAIRS": ";".join(f"{a}+{b}" for a, b in pairs),
            "DIAGONAL": ",".join(str(nested[i][i]) for i in range(3)),
        },
    )
