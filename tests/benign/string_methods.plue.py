# ctx: tag
from plue import Plan, Step, Trigger


def workflow(ctx):
    tag = ctx.event.tag or "v0.0.0"
    version = tag.removeprefix("v")
    major, minor, patch = (int(part) for part in version.split("."))
    channel = "stable" if minor % 2 == 0 else "edge"
    notes = "  Release Notes  ".strip().lower().replace(" ", "-")
    csv = "a,b,,c"
    words = csv.split(",")
    ok = tag.startswith("v") and version.count(".") == 2 and "." in version
    kind = ctx.event.name
    skip_for = {None, "", "draft"}
    assert ctx.event.branch in skip_for
    assert ctx.event.branch in {None, "wip"}
    return Plan(
        "release",
        steps=[
            Step.bash("publish", f"twine upload --channel {channel}", env={"MAJOR": major, "PATCH": patch}),
            Step.bash("notes", f"echo {notes.title()} {len(words)} {ok} {kind}", depends_on="publish"),
            Step.bash("center", "echo " + version.center(11, "*") + version.zfill(8)),
        ],
        triggers=[Trigger.on_push(tags="v*")],
    )
