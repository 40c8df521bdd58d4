# ctx: none
from plue import Plan, Step, Trigger


def workflow(ctx):
    mode = "dry-run"
    if ctx.event is not None:
        mode = ctx.event.name
    branch = ctx.event.branch if ctx.event else "none"
    return Plan(
        "no-event",
        steps=[Step.bash("plan", f"echo {mode} {branch}")],
        triggers=[Trigger.on_schedule("0 3 * * 1-5"), Trigger.manual({"target": "staging"})],
    )
