# ctx: none
from plue import Plan, Step

REGISTRY = []


def register(func):
    REGISTRY.append(func)
    return func


def with_prefix(prefix):
    def decorate(func):
        def wrapper(*args, **kwargs):
            return prefix + func(*args, **kwargs)

        return wrapper

    return decorate


@register
@with_prefix("ci-")
def name_for(kind, index=0):
    return f"{kind}-{index}"


def counter():
    state = {"n": 0}

    def bump():
        state["n"] += 1
        return state["n"]

    return bump


def workflow():
    bump = counter()
    makers = [lambda i=i: f"echo {i}" for i in range(3)]
    steps = [Step.bash(name_for("job", bump()), make()) for make in makers]
    return Plan("closures", steps=steps, env={"REGISTERED": len(REGISTRY), "LAST": bump()})
