"""Nightly maintenance at 03:00 UTC, also startable by hand with inputs."""

from plue import Plan, Step, Trigger

TRIGGERS = [
    Trigger.on_schedule("0 3 * * *"),
    Trigger.manual(
        inputs={
            "suite": {"type": "choice", "options": ["quick", "full"], "default": "quick"},
            "dry_run": {"type": "boolean", "default": False, "description": "plan, do not publish"},
        }
    ),
]


def workflow(ctx):
    event = ctx.event
    if event is None:
        # No event: `plue workflow plan` alone, or reading the triggers.
        suite, dry_run, why = "quick", True, "preview"
    elif event.name == "schedule":
        suite, dry_run, why = "full", False, "scheduled " + event.schedule
    else:
        suite = ctx.inputs.get("suite", "quick")
        dry_run = bool(ctx.inputs.get("dry_run", False))
        why = "started by " + (event.actor or "someone")

    steps = [
        Step.bash("deps", "uv sync --locked --upgrade-package '*' --dry-run", name=f"deps ({why})"),
        Step.bash("tests", f"uv run pytest -q -m '{suite}'", depends_on="deps", timeout="1h"),
    ]
    if suite == "full":
        steps.append(Step.bash("bench", "uv run python -m bench", depends_on="tests", timeout="30m"))
    publish = "echo would publish" if dry_run else "uv run python scripts/publish_report.py"
    last = [step.id for step in steps if step.id != "deps"]
    steps.append(Step.bash("report", publish, depends_on=last, when="always"))
    return Plan("Nightly", steps=steps, triggers=TRIGGERS, timeout="2h")
