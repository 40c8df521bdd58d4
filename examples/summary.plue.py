"""An LLM agent reads the bundled `hello/` package and summarises it as structured output.

Replays a recorded conversation, offline and without an API key:

    plue workflow run examples/summary.plue.py --llm-replay examples/llm-recordings

or talks to Claude for real (and records the conversation):

    plue workflow run examples/summary.plue.py --secret ANTHROPIC_API_KEY --llm-record examples/llm-recordings
"""

from plue import Plan, Step, Trigger


def workflow():
    summarize = Step.llm(
        "summarize",
        prompt_file="examples/prompts/summarize.md",
        inputs={"package": "examples/hello", "audience": "a new contributor"},
        tools=["list_files", "read_file"],
        output_schema={
            "type": "object",
            "required": ["summary", "modules"],
            "properties": {
                "summary": {"type": "string"},
                "modules": {"type": "array", "items": {"type": "string"}},
            },
        },
        max_turns=6,
        timeout="5m",
    )
    report = Step.bash(
        "report",
        "echo 'summary: {{ steps.summarize.outputs.summary }}'\necho 'modules: {{ steps.summarize.outputs.modules }}'",
        depends_on=[summarize],
    )
    return Plan("Summary", steps=[summarize, report], triggers=[Trigger.manual()])
