# ctx: none
from plue import Plan, Step, Trigger

SCHEMA = {
    "type": "object",
    "properties": {"summary": {"type": "string"}, "score": {"type": "number"}},
    "required": ["summary"],
}


def workflow():
    fetch = Step.bash("fetch", "git fetch --all", retries=3, backoff="10s", timeout=120, name="Fetch everything")
    triage = Step.llm(
        "triage",
        prompt_file="prompts/triage.md",
        inputs={"issue": "{{ steps.fetch.outputs.issue }}", "limits": [1, 2.5, None, True], "nested": {"k": ["v"]}},
        model="claude-sonnet-4-5",
        output_schema=SCHEMA,
        depends_on=[fetch],
        env={"MODE": "triage", "DEBUG": False},
    )
    report = Step.python("report", "print('done')", depends_on=[fetch, triage], when="always", timeout="1h30m")
    return Plan(
        "options",
        steps=[fetch, triage, report],
        triggers=[Trigger.on_issue(["opened", "labeled"], labels=["bug"])],
        env={"GLOBAL": "1"},
        description="every step option",
    )
