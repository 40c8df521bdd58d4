"""Checks of llm steps a schema cannot express: tool names, the output schema, where the prompt file is.

The tool names are the llm layer's (`plue.llm.tools.KNOWN_TOOLS`, floor 3, which
validation may not import); a test keeps the two lists equal. Tool options
(`bash:CMD,...`, `git:write`) are checked when the step runs.
"""

from __future__ import annotations

import posixpath
from typing import Final

from plue.validation.graph import Steps
from plue.validation.report import Report, show

TOOL_NAMES: Final = ("read_file", "write_file", "edit_file", "list_files", "grep", "bash", "git")


def check_llm_steps(steps: Steps, report: Report) -> None:
    for index, step in enumerate(steps.items):
        if step is None or step.get("type") != "llm":
            continue
        tools = step.get("tools")
        if type(tools) is list:
            for spec in tools:
                if type(spec) is str and spec.partition(":")[0] not in TOOL_NAMES:
                    name = spec.partition(":")[0]
                    hint = report.suggest(name, TOOL_NAMES) or f"; the tools are: {', '.join(TOOL_NAMES)}"
                    report.add("steps", index, f"tools: unknown tool {show(name)}{hint}")
        prompt_file = step.get("prompt_file")
        if type(prompt_file) is str and _leaves_the_repository(prompt_file):
            where = f"prompt_file {show(prompt_file)}"
            report.add("steps", index, f"{where} must be a path inside the repository (relative, no ..)")
        output_schema = step.get("output_schema")
        if type(output_schema) is dict:
            problem = _schema_problem(output_schema)
            if problem:
                report.add("steps", index, f"output_schema is not a valid JSON Schema: {problem}")


def _leaves_the_repository(path: str) -> bool:
    normal = posixpath.normpath(path.replace("\\", "/"))
    return path.startswith(("/", "\\")) or normal == ".." or normal.startswith("../") or "\0" in path


def _schema_problem(schema: dict[str, object]) -> str | None:
    import jsonschema  # imported on demand: 0.2 s, and most plans have no output schema

    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = "/".join(str(part) for part in exc.absolute_path)
        return f"{exc.message}" + (f" (at {where})" if where else "")
    return None
