# ctx: none
from plue import Plan, Step


def workflow():
    name = "shard"
    ratio = 2 / 3
    rows = []
    for n in [1, 7, 42]:
        rows.append(f"{name:>8}|{n:03d}|{n:<4}|{n:^5}|{n:x}|{ratio:.2f}|{name!r}|{n=}|{1234567:,}")
    width = 6
    rows.append(f"{'pad':{width}}|{3.14159:{width}.{2}f}")
    return Plan("fstrings", steps=[Step.bash(f"row-{i}", row) for i, row in enumerate(rows)])
