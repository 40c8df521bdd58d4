# ctx: none
"""Module constants, helper functions, docstrings and default arguments."""

from plue import Plan, Step

PYTHON_VERSIONS = ("3.11", "3.12")
DEFAULT_IMAGE = "python"


def image(version: str, base: str = DEFAULT_IMAGE) -> str:
    """The container image for a Python version."""
    return base + ":" + version + "-slim"


def test_step(version: str) -> Step:
    slug = version.replace(".", "")
    return Step.bash(f"test-{slug}", f"docker run {image(version)} pytest", timeout="10m")


def workflow():
    """No ctx parameter: a plan that never depends on the event."""
    return Plan(
        "functions",
        description="helpers and constants",
        steps=[test_step(version) for version in PYTHON_VERSIONS],
    )
