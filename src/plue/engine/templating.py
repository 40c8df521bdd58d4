"""Output references: rendering ``{{ steps.ID.outputs.NAME }}`` and friends just before a step runs.

The grammar is validation's (``plue.validation.references``), so what
validation accepts is exactly what is rendered:

- a template is ``{{`` + text without braces + ``}}``; its content, stripped,
  is an expression;
- ``steps.ID.outputs.NAME``, ``steps.ID.exit_code``, ``steps.ID.text``,
  ``steps.ID.output`` are rendered; any other template (``{{ inputs.x }}``, or
  ``{{`` in code) is left alone.

A reference whose value does not exist (a missing output key, a step that did
not run, no exit code) renders as an empty string and adds a warning, as
GitHub does. Rendered: bash ``cmd``, python ``script``, llm ``prompt``, every
``env`` value and every string inside llm ``inputs`` (values, not keys).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

_TEMPLATE_RE: Final = re.compile(r"\{\{([^{}]*)\}\}")  # validation's pattern: no nested braces
_OUTPUT_NAME_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")
_RENDERED_FIELDS: Final = ("cmd", "script", "prompt")


@dataclass(frozen=True)
class StepValues:
    """What a finished step offers to templates (outputs are already masked)."""

    outputs: Mapping[str, str] = field(default_factory=dict)
    exit_code: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)  # llm: text, output


def parse_reference(expression: str) -> tuple[str, str, str | None] | None:
    """(step id, attribute, output name) of a ``steps.…`` expression, or None when it is not a reference."""
    parts = expression.split(".")
    if parts[0] != "steps" or len(parts) < 3 or not parts[1]:
        return None
    if len(parts) == 4 and parts[2] == "outputs" and _OUTPUT_NAME_RE.match(parts[3]):
        return parts[1], "outputs", parts[3]
    if len(parts) == 3 and parts[2] in ("exit_code", "text", "output"):
        return parts[1], parts[2], None
    return None


class Renderer:
    """Renders the templates of one step attempt; collects a warning per reference without a value."""

    def __init__(self, values: Mapping[str, StepValues]) -> None:
        self._values = values
        self.warnings: list[str] = []
        self._warned: set[str] = set()

    def render(self, text: str) -> str:
        if "{{" not in text:
            return text
        return _TEMPLATE_RE.sub(self._replace, text)

    def render_step(
        self, step: Mapping[str, Any], plan_env: Mapping[str, str]
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """(the step with its templated fields rendered, plan env + step env rendered)."""
        rendered = dict(step)
        for name in _RENDERED_FIELDS:
            if isinstance(rendered.get(name), str):
                rendered[name] = self.render(rendered[name])
        if rendered.get("type") == "llm" and isinstance(rendered.get("inputs"), dict):
            rendered["inputs"] = self._render_data(rendered["inputs"])
        env = {key: self.render(value) for key, value in {**plan_env, **step.get("env", {})}.items()}
        rendered["env"] = {key: env[key] for key in step.get("env", {})}
        return rendered, env

    def _render_data(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.render(value)
        if isinstance(value, dict):
            return {key: self._render_data(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self._render_data(item) for item in value]
        return value

    def _replace(self, match: re.Match[str]) -> str:
        expression = match.group(1).strip()
        reference = parse_reference(expression)
        if reference is None:
            return match.group(0)
        step_id, attribute, name = reference
        value, why_empty = _lookup(self._values.get(step_id), step_id, attribute, name)
        if why_empty is not None and expression not in self._warned:
            self._warned.add(expression)
            self.warnings.append(f"{{{{ {expression} }}}} rendered as an empty string: {why_empty}")
        return value


def _lookup(values: StepValues | None, step_id: str, attribute: str, name: str | None) -> tuple[str, str | None]:
    """(the rendered value, why it is empty or None)."""
    if values is None:
        return "", f"step '{step_id}' did not run"
    if attribute == "outputs":
        assert name is not None
        if name in values.outputs:
            return values.outputs[name], None
        return "", f"step '{step_id}' has no output '{name}'"
    if attribute == "exit_code":
        if values.exit_code is None:
            return "", f"step '{step_id}' has no exit code"
        return str(values.exit_code), None
    item = values.extra.get(attribute)
    if item is None:
        return "", f"step '{step_id}' has no {attribute}"
    return (item if isinstance(item, str) else json.dumps(item, ensure_ascii=False)), None
