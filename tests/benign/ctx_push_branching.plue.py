# ctx: push
from plue import Plan, Step, Trigger


def workflow(ctx):
    steps = [Step.bash("test", "pytest")]
    event = ctx.event
    if event is not None and event.name == "push" and event.branch == ctx.repo.default_branch:
        steps.append(Step.bash("deploy", "make deploy", depends_on=["test"], env={"SHA": event.sha[:7]}))
    message = event.payload["head_commit"]["message"]
    if message.startswith("fix:"):
        steps.append(Step.bash("changelog", "echo fix", when="always"))
    if any(path.startswith("docs/") for path in event.changed_files):
        steps.append(Step.bash("docs", "mkdocs build"))
    return Plan(
        "push",
        steps=steps,
        triggers=[Trigger.on_push(branch=["main", "release/*"], paths=["src/**", "docs/**"])],
        env={"REPO": ctx.repo.name, "ACTOR": event.actor},
    )
