"""An LLM reviews every pull request. Needs an API key for the model's provider:

    plue workflow run examples/review.plue.py --secret ANTHROPIC_API_KEY
"""

from plue import Plan, Step, Trigger


def workflow(ctx):
    diff = Step.bash(
        "diff",
        "base=$(git merge-base origin/main HEAD 2>/dev/null || git rev-parse HEAD~1)\n"
        'echo "base=$base" >> "$PLUE_OUTPUT"\n'
        'git diff --stat "$base" HEAD',
    )
    review = Step.llm(
        "review",
        "Review the diff of this change (git diff {{ steps.diff.outputs.base }}...HEAD). Point out bugs,"
        " missing tests and unclear names; say 'LGTM' if there is nothing to add.",
        tools=["read_file", "bash"],
        max_turns=20,
        depends_on=[diff],
        timeout="20m",
    )
    return Plan(
        "Review",
        steps=[diff, review],
        triggers=[Trigger.on_pull_request()],
        description="An LLM review of each pull request.",
    )
