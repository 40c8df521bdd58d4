# ctx: none
from plue import Plan, Step


def workflow():
    counts = {}
    for word in ["a", "b", "a", "c", "a"]:
        counts.setdefault(word, 0)
        counts[word] += 1
    counts.update({"d": 10})
    merged = {**counts, "e": 5}
    del merged["c"]
    popped = merged.pop("d")

    items = [3, 1, 2]
    items.append(4)
    items.extend([5, 6])
    items.insert(0, 0)
    items[1:3] = [9, 9]
    first, *middle, last = items
    head = items[:2]
    tail = items[-2:]
    backwards = items[::-1]

    tags = {"x", "y"}
    tags.add("z")
    tags |= {"w"}
    shared = tags & {"x", "w", "q"}
    only = tags - {"x"}
    either = tags ^ {"x", "new"}

    def describe(*parts, sep="-", **extra):
        return sep.join(parts) + "".join(f"[{k}={v}]" for k, v in sorted(extra.items()))

    args = ["p", "q"]
    options = {"sep": "+", "mode": "fast"}
    env = {
        "COUNTS": ",".join(f"{k}={v}" for k, v in sorted(counts.items())),
        "MERGED": ",".join(sorted(merged)),
        "POPPED": popped,
        "ITEMS": str(items),
        "UNPACKED": f"{first}|{middle}|{last}",
        "SLICES": f"{head}{tail}{backwards}",
        "TAGS": ",".join(sorted(tags)),
        "SETOPS": f"{sorted(shared)}{sorted(only)}{sorted(either)}",
        "CALL": describe(*args, **options),
        "SUM": 10 - 3 | 4,
    }
    return Plan("containers", steps=[Step.bash("show", "env")], env=env)
