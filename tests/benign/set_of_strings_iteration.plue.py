# ctx: none
from plue import Plan, Step

# Iterates sets of strings without sorting: the order must still be the same on every run.
COMPONENTS = {"auth", "billing", "search", "gateway", "notifications", "reports", "storage", "users"}


def workflow():
    extra = set(["cache", "queue"]) | {"metrics"}
    steps = [Step.bash(f"build-{name}", f"make {name}") for name in COMPONENTS | extra]
    frozen = frozenset(("x", "y", ("t", 1)))
    return Plan(
        "set-iteration",
        steps=steps,
        env={"ORDER": ",".join(name for name in COMPONENTS), "FROZEN": str(len(frozen))},
    )
