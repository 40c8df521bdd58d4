# ctx: none
from plue import Plan, Step


def workflow():
    steps = []
    n = 0
    while True:
        n += 1
        if n % 2 == 0:
            continue
        if n > 7:
            break
        steps.append(Step.bash(f"odd-{n}", f"echo {n}"))
    for i in range(3):
        if i == 1:
            continue
        steps.append(Step.bash(f"loop-{i}", "true"))
    else:
        steps.append(Step.bash("loop-done", "echo done"))
    names = [step.id for step in steps]
    assert "odd-1" in names, "the first odd step is missing"
    return Plan("loops", steps=steps, env={"COUNT": len(steps)})
