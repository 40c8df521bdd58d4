"""A prompt file: Markdown with YAML frontmatter (name, description, schema, output, model, tools, max_turns).

```
---
name: code-review
description: Review code changes
schema: {type: object, properties: {files: {type: array}}}
---
Review the following code changes: ...
```

Loading checks every field (unknown fields are errors, so a typo such as
`shema` does not silently drop the input checks) and compiles the body, so a
malformed template is reported when the file is loaded or linted, not when a
step is half-way through a run.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, NoReturn

import jsonschema

from plue.prompts.errors import PromptError
from plue.prompts.frontmatter import split_frontmatter
from plue.prompts.template import Template, TemplateError, compile_template

MAX_PROMPT_BYTES: Final = 1024 * 1024
MAX_TURNS_LIMIT: Final = 1000
FIELDS: Final = ("name", "description", "schema", "output", "model", "tools", "max_turns")


@dataclass(frozen=True)
class PromptFile:
    path: Path
    name: str
    description: str | None
    schema: dict[str, Any] | None  # JSON Schema of the inputs
    output: dict[str, Any] | None  # JSON Schema of a structured result
    model: str | None
    tools: tuple[str, ...] | None
    max_turns: int | None
    body: str
    body_line: int  # 1-based line of the file where the body starts
    template: Template = field(repr=False, compare=False)
    field_lines: dict[str, int] = field(default_factory=dict, repr=False, compare=False)


def load_prompt(path: Path) -> PromptFile:
    """Read, check and compile a prompt file; `PromptError` (`path:line: message`) when it cannot be used."""
    return parse_prompt(path, read_prompt_text(path))


def read_prompt_text(path: Path) -> str:
    shown = str(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_PROMPT_BYTES + 1)
    except FileNotFoundError:
        raise PromptError(shown, None, "no such prompt file; check the path (relative to the repository)") from None
    except IsADirectoryError:
        raise PromptError(shown, None, "is a directory, not a prompt file") from None
    except OSError as exc:
        raise PromptError(shown, None, f"cannot read the prompt file: {exc.strerror or exc}") from None
    if len(data) > MAX_PROMPT_BYTES:
        raise PromptError(shown, None, f"the prompt file is larger than {MAX_PROMPT_BYTES // 1024} KiB; shorten it")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise PromptError(shown, line, "the prompt file is not valid UTF-8; save it as UTF-8") from None


def parse_prompt(path: Path, text: str) -> PromptFile:
    shown = str(path)
    if text.startswith("\ufeff"):
        text = text[1:]  # editors on Windows add a byte-order mark; it is not part of the prompt
    front = split_frontmatter(shown, text)
    fields, lines = front.fields, front.lines
    checker = _FieldChecker(shown, lines)
    for key in fields:
        if key not in FIELDS:
            near = difflib.get_close_matches(key, FIELDS, n=1)
            hint = f"did you mean '{near[0]}'?" if near else f"the fields are: {', '.join(FIELDS)}"
            checker.fail(key, f"unknown frontmatter field '{key}'; {hint}")
    template = compile_body(shown, front.body, front.body_line)
    return PromptFile(
        path=path,
        name=checker.text(fields, "name") or _default_name(path),
        description=checker.text(fields, "description"),
        schema=checker.schema(fields, "schema"),
        output=checker.schema(fields, "output"),
        model=checker.text(fields, "model"),
        tools=checker.tools(fields),
        max_turns=checker.max_turns(fields),
        body=front.body,
        body_line=front.body_line,
        template=template,
        field_lines=lines,
    )


def compile_body(shown: str, body: str, body_line: int) -> Template:
    try:
        return compile_template(body, source=shown)
    except TemplateError as exc:
        raise template_problem(shown, body_line, exc) from None


def template_problem(shown: str, body_line: int, exc: TemplateError) -> PromptError:
    """A template error located in the file: template lines count from the body's first line."""
    return PromptError(shown, body_line + exc.line - 1, exc.message)


def _default_name(path: Path) -> str:
    name = path.name
    for suffix in (".prompt.md", ".md"):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


class _FieldChecker:
    def __init__(self, shown: str, lines: dict[str, int]) -> None:
        self._shown = shown
        self._lines = lines

    def fail(self, key: str, message: str) -> NoReturn:
        raise PromptError(self._shown, self._lines.get(key, 1), message)

    def text(self, fields: dict[str, Any], key: str) -> str | None:
        value = fields.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            self.fail(key, f"'{key}' must be a non-empty text")
        return str(value)

    def schema(self, fields: dict[str, Any], key: str) -> dict[str, Any] | None:
        value = fields.get(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            self.fail(key, f"'{key}' must be a JSON Schema written as a YAML mapping (type: object, properties: ...)")
        try:
            jsonschema.Draft202012Validator.check_schema(value)
        except jsonschema.SchemaError as exc:
            where = "/".join(str(part) for part in exc.absolute_path) or "(top level)"
            self.fail(key, f"'{key}' is not a valid JSON Schema at {where}: {exc.message}")
        return dict(value)

    def tools(self, fields: dict[str, Any]) -> tuple[str, ...] | None:
        value = fields.get("tools")
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
            self.fail("tools", "'tools' must be a list of tool names, e.g. [read_file, grep]")
        return tuple(dict.fromkeys(value))

    def max_turns(self, fields: dict[str, Any]) -> int | None:
        value = fields.get("max_turns")
        if value is None:
            return None
        if type(value) is not int or not 1 <= value <= MAX_TURNS_LIMIT:
            self.fail("max_turns", f"'max_turns' must be a whole number from 1 to {MAX_TURNS_LIMIT}")
        return int(value)
