# ctx: manual
from plue import Plan, Step, Trigger


def workflow(ctx):
    target = ctx.inputs.get("target", "staging")
    dry = ctx.inputs.get("dry_run", False)
    count = ctx.inputs.get("count", "1")
    missing = ctx.inputs.get("nope")
    cmd = f"deploy --to {target}" + (" --dry-run" if dry else "")
    return Plan(
        "manual",
        steps=[Step.bash("deploy", cmd, env={"COUNT": count, "MISSING": str(missing)})],
        triggers=[
            Trigger.manual(
                {
                    "target": {"type": "choice", "options": ["staging", "prod"], "default": "staging"},
                    "dry_run": False,
                    "count": {"type": "string", "description": "how many", "required": True},
                }
            )
        ],
    )
