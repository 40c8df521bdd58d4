"""hello: a tiny package that the example CI workflow lints, tests and builds."""

__version__ = "0.1.0"


def greet(name: str = "world") -> str:
    """A friendly greeting; surrounding blanks in `name` are dropped."""
    name = name.strip() or "world"
    return f"Hello, {name}!"
