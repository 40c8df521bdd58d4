"""Continuous integration: test every push to main and every pull request,
then build, while an LLM reviews the change."""

from plue import Plan, Step, Trigger


def workflow(ctx):
    test = Step.bash(
        "test",
        "uv sync --locked\nuv run pytest -q",
        timeout="15m",
        retries=1,
        backoff="10s",
    )
    build = Step.bash("build", "uv build", depends_on=[test], timeout="10m")
    review = Step.llm(
        "review",
        "Review the diff of this change (git diff origin/main...HEAD). Point out bugs,"
        " missing tests and unclear names; say 'LGTM' if there is nothing to add.",
        tools=["read", "bash"],
        max_turns=20,
        depends_on=[test],
        timeout="20m",
    )
    return Plan(
        "CI",
        steps=[test, build, review],
        triggers=[Trigger.on_push("main"), Trigger.on_pull_request()],
        description="Tests, build and an LLM review for main and pull requests.",
    )
