"""Issue triage: an LLM labels new issues, then a bash step applies the label."""

from plue import Plan, Step, Trigger

LABELS = ["bug", "feature", "question", "docs"]


def workflow(ctx):
    event = ctx.event
    issue = event.issue if event is not None else None
    title = issue.title if issue is not None else "(no issue: preview)"
    number = issue.number if issue is not None else 0
    body = ""
    if event is not None:
        body = event.payload.get("issue", {}).get("body") or ""

    triage = Step.llm(
        "triage",
        prompt_file="examples/prompts/triage.md",
        inputs={
            "title": title,
            "body": body[:4000],
            "labels": event.labels if event is not None else [],
            "choices": LABELS,
        },
        output_schema={
            "type": "object",
            "properties": {
                "label": {"type": "string", "enum": LABELS},
                "reason": {"type": "string"},
            },
            "required": ["label", "reason"],
        },
        max_turns=3,
        timeout="5m",
    )
    apply = Step.bash(
        "apply-label",
        "gh issue edit " + str(number) + " --add-label '{{ steps.triage.outputs.label }}'",
        depends_on=[triage],
        env={"GH_REPO": ctx.repo.name or ""},
    )
    return Plan(
        "Triage",
        steps=[triage, apply],
        triggers=[Trigger.on_issue(["opened", "labeled"])],
    )
