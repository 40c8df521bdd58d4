# ctx: pull_request
from plue import Plan, Step, Trigger


def workflow(ctx):
    # One preview deployment per pull request; a newer push cancels the one in progress.
    number = ctx.event.pull_request["number"] if ctx.event else 0
    return Plan(
        "preview",
        steps=[Step.bash("deploy", "./deploy-preview.sh")],
        triggers=[Trigger.on_pull_request()],
        concurrency={"group": "preview-" + str(number), "cancel_in_progress": True},
    )
