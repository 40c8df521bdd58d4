# ctx: none
from plue import Plan, Step


def helper(n):
    print("helper", n, sep=":")
    return n * 2


def workflow():
    print("starting")
    total = sum(helper(n) for n in range(3))
    print("total", total, [1, "two"], {"k": None}, end="!\n")
    print()
    return Plan("printing", steps=[Step.bash("total", f"echo {total}")])
