# ctx: none
from plue import Plan, Step

TREE = {"app": {"lib": {"core": {}}, "ui": {}}, "tools": {}}


def walk(tree, prefix=""):
    out = []
    for name in sorted(tree):
        path = f"{prefix}/{name}" if prefix else name
        out.append(path)
        out.extend(walk(tree[name], path))
    return out


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def workflow():
    paths = walk(TREE)
    steps = [Step.bash(path.replace("/", "-"), f"make -C {path}") for path in paths]
    return Plan("recursion", steps=steps, env={"FIB": fib(15)})
