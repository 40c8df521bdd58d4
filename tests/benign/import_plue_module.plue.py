# ctx: none
import plue


def workflow():
    first = plue.Step.bash("one", "echo 1")
    second = plue.Step.python("two", "print(2)", depends_on=[first])
    third = plue.Step.python("three", file="scripts/three.py", depends_on=["one", "two"], when="on_failure")
    return plue.Plan(
        "import-plue",
        steps=[first, second, third],
        triggers=[plue.Trigger.on_issue_comment("/retry")],
        timeout="1h",
    )
