# ctx: pull_request
from plue import Plan, Step, Trigger


def workflow(ctx):
    pr = ctx.event.pull_request
    labels = ctx.event.labels
    steps = [Step.bash("test", f"pytest --base {pr.base.ref} --head {pr.head.ref}")]
    if "needs-review" in labels:
        steps.append(
            Step.llm(
                "review",
                "Review the diff of pull request {{ number }}",
                inputs={"number": pr.number, "title": ctx.event.payload["pull_request"]["title"]},
                tools=["read_file", "grep"],
                max_turns=5,
                depends_on=steps[0],
            )
        )
    return Plan(
        "pr",
        steps=steps,
        triggers=[Trigger.on_pull_request(["opened", "synchronize"], branches="main")],
    )
