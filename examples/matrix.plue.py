"""A test matrix built with plain Python: every Python version on every OS,
then one step that waits for all of them."""

from plue import Plan, Step, Trigger

PYTHONS = ["3.11", "3.12", "3.13"]
SYSTEMS = {"linux": "ubuntu-24.04", "macos": "macos-14"}
# Slow combinations get more time.
SLOW = {("macos", "3.11")}


def step_id(system, python):
    """A valid step id for one cell of the matrix, e.g. 'test-linux-py312'."""
    return "test-" + system + "-py" + python.replace(".", "")


def test_step(system, python):
    minutes = 30 if (system, python) in SLOW else 15
    return Step.bash(
        step_id(system, python),
        f"uv run --python {python} pytest -q",
        env={"PLUE_OS_IMAGE": SYSTEMS[system], "PYTHON_VERSION": python},
        timeout=f"{minutes}m",
    )


def workflow():
    pairs = [(system, python) for system in sorted(SYSTEMS) for python in PYTHONS]
    cells = [test_step(system, python) for system, python in pairs]
    lines = [
        f"{index + 1}. {system} / Python {python}: {step.id}"
        for index, (step, (system, python)) in enumerate(zip(cells, pairs))
    ]
    summary = Step.bash(
        "summary",
        "echo 'all matrix cells passed:'\n" + "\n".join(f"echo '{line}'" for line in lines),
        depends_on=cells,
    )
    labels = {f"CELL_{index}": step.id for index, step in enumerate(cells)}
    report = Step.python(
        "report",
        script="import os\nprint(sorted(k for k in os.environ if k.startswith('CELL_')))",
        env=labels,
        depends_on=[summary],
        when="always",
    )
    return Plan(
        "Matrix",
        steps=[*cells, summary, report],
        triggers=[Trigger.on_push(branches=["main", "release/*"]), Trigger.on_pull_request()],
    )
