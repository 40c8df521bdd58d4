"""Rendering a prompt: inputs checked against the schema (defaults filled in), then the body rendered.

Partials (`{{> other-prompt}}`) come from the prompt's own directory: `other-prompt.md`
or `other-prompt.prompt.md`, frontmatter removed. They are loaded only when the
template asks for them, and never from outside that directory.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final

import jsonschema

from plue.prompts.errors import PromptError, PromptInputError
from plue.prompts.files import PromptFile, compile_body, read_prompt_text, template_problem
from plue.prompts.frontmatter import split_frontmatter
from plue.prompts.template import TemplateError

PARTIAL_SUFFIXES: Final = (".md", ".prompt.md", "")
INLINE_SOURCE: Final = "prompt"
MAX_VIOLATIONS: Final = 50


def render_prompt(prompt: PromptFile, inputs: Mapping[str, Any], *, partials_dir: Path | None = None) -> str:
    """The prompt's body rendered with `inputs` (checked against its `schema` first).

    Partials come from `partials_dir`, by default the prompt's own directory.
    """
    shown = str(prompt.path)
    context = check_inputs(shown, prompt.field_lines.get("schema"), prompt.schema, inputs)
    partials = PartialLibrary(partials_dir or prompt.path.parent)
    try:
        return prompt.template.render(context, partials)
    except TemplateError as exc:
        raise partials.locate(exc, shown, prompt.body_line) from None


def render_inline(template: str, inputs: Mapping[str, Any], *, partials_dir: Path | None = None) -> str:
    """A step's inline `prompt` rendered with its inputs; partials from `partials_dir` when given."""
    compiled = compile_body(INLINE_SOURCE, template, 1)
    partials = PartialLibrary(partials_dir)
    try:
        return compiled.render(dict(inputs), partials)
    except TemplateError as exc:
        raise partials.locate(exc, INLINE_SOURCE, 1) from None


def check_inputs(
    shown: str, schema_line: int | None, schema: Mapping[str, Any] | None, inputs: Mapping[str, Any]
) -> dict[str, Any]:
    """The inputs with the schema's top-level defaults filled in; `PromptInputError` listing every violation."""
    context = dict(inputs)
    if schema is None:
        return context
    properties = schema.get("properties")
    if isinstance(properties, dict):
        for key, definition in properties.items():
            if key not in context and isinstance(definition, dict) and "default" in definition:
                context[key] = definition["default"]
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(context), key=lambda error: [str(part) for part in error.absolute_path])
    if errors:
        violations = [f"{_json_path(error.absolute_path)}: {error.message}" for error in errors[:MAX_VIOLATIONS]]
        if len(errors) > MAX_VIOLATIONS:
            violations.append(f"... and {len(errors) - MAX_VIOLATIONS} more")
        raise PromptInputError(shown, schema_line, violations)
    return context


def _json_path(parts: Iterator[Any] | Any) -> str:
    path = "inputs"
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


class PartialLibrary(Mapping[str, str]):
    """Partials loaded on demand from one directory; remembers where each came from to place errors."""

    def __init__(self, directory: Path | None) -> None:
        self._directory = directory
        self._loaded: dict[str, tuple[str, int, str]] = {}  # name -> (shown path, body line, body)

    def get(self, name: str, default: Any = None) -> Any:
        found = self._load(name)
        return found[2] if found is not None else default

    def __getitem__(self, name: str) -> str:
        found = self._load(name)
        if found is None:
            raise KeyError(name)
        return found[2]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._load(name) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self._loaded)

    def __len__(self) -> int:
        return len(self._loaded)

    def locate(self, exc: TemplateError, shown: str, body_line: int) -> PromptError:
        """The error placed in the file it comes from: the prompt itself or one of its partials."""
        loaded = self._loaded.get(exc.source) if exc.source else None
        if loaded is not None:
            return template_problem(loaded[0], loaded[1], exc)
        return template_problem(shown, body_line, exc)

    def _load(self, name: str) -> tuple[str, int, str] | None:
        if name in self._loaded:
            return self._loaded[name]
        path = self._find(name)
        if path is None:
            return None
        shown = str(path)
        text = read_prompt_text(path)
        front = split_frontmatter(shown, text.removeprefix("\ufeff"))
        self._loaded[name] = (shown, front.body_line, front.body)
        return self._loaded[name]

    def _find(self, name: str) -> Path | None:
        if self._directory is None or not name or "\0" in name or name.startswith(("/", "\\")):
            return None
        root = os.path.realpath(self._directory)
        for suffix in PARTIAL_SUFFIXES:
            candidate = os.path.join(root, name + suffix)
            real = os.path.realpath(candidate)
            # Symlinks and `..` that lead out of the prompt directory are not followed.
            if os.path.commonpath([root, real]) == root and os.path.isfile(real):
                return Path(self._directory) / (name + suffix)
        return None
