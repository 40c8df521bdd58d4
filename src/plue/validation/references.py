"""Output references: ``{{ steps.ID.outputs.NAME }}`` and friends must be well formed and point upstream."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Final

from plue.validation.graph import Steps, ancestor_masks
from plue.validation.report import Report, field_text, id_text, show

_TEMPLATE_RE: Final = re.compile(r"\{\{([^{}]*)\}\}")  # no nested braces: linear on any input
_OUTPUT_NAME_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")
_REFERENCE_FORMS: Final = (
    "use steps.ID.outputs.NAME, steps.ID.exit_code, or steps.ID.text / steps.ID.output (llm steps)"
)
_TEMPLATED: Final = {"bash": ("cmd",), "python": ("script",), "llm": ("prompt",)}


def _references(text: str) -> Iterator[str]:
    """The ``steps.…`` expressions of the templates in a string."""
    for match in _TEMPLATE_RE.finditer(text):
        expression = match.group(1).strip()
        if expression.startswith("steps."):
            yield expression


def _parse_reference(expression: str) -> tuple[str, str] | str:
    """(step id, attribute) of a reference, or why it is malformed."""
    parts = expression.split(".")
    shown = "{{ " + expression[:80] + " }}"
    if len(parts) == 4 and parts[2] == "outputs" and _OUTPUT_NAME_RE.match(parts[3]) and parts[1]:
        return parts[1], "outputs"
    if len(parts) == 3 and parts[2] == "outputs" and parts[1]:
        return f"{shown} needs an output name: {{{{ steps.{parts[1][:40]}.outputs.NAME }}}}"
    if len(parts) == 3 and parts[1] and parts[2] in ("exit_code", "text", "output"):
        return parts[1], parts[2]
    return f"{shown} is not a valid step reference; {_REFERENCE_FORMS}"


def _type_text(step_type: object) -> str:
    return step_type if type(step_type) is str and step_type in _TEMPLATED else show(step_type)


def _templated_strings(step: dict[str, Any]) -> Iterator[tuple[list[str | int], str]]:
    """(path, text) for every string of a step that the engine renders and that has a template."""
    step_type = step.get("type")
    for name in _TEMPLATED.get(step_type, ()) if type(step_type) is str else ():
        text = step.get(name)
        if type(text) is str and "{{" in text:
            yield [name], text
    env = step.get("env")
    if type(env) is dict:
        for key, text in env.items():
            if type(text) is str and "{{" in text:
                yield ["env", key], text
    if step.get("type") == "llm" and type(step.get("inputs")) is dict:
        yield from _nested_strings(step["inputs"], ["inputs"])


def _nested_strings(value: object, path: list[str | int]) -> Iterator[tuple[list[str | int], str]]:
    stack: list[tuple[object, list[str | int]]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if type(item) is str:
            if "{{" in item:
                yield where, item
        elif type(item) is dict:
            stack.extend((v, [*where, k]) for k, v in reversed(item.items()))
        elif type(item) is list:
            stack.extend((v, [*where, i]) for i, v in reversed(list(enumerate(item))))


def check_references(data: dict[str, Any], steps: Steps, report: Report) -> None:
    env = data.get("env")
    if type(env) is dict:
        for key, value in env.items():
            for expression in _references(value) if type(value) is str else ():
                report.add(
                    "",
                    0,
                    f"{field_text(['env', key])} refers to {expression[:80]}, but the plan's env is"
                    " shared by every step; set it in the env of the steps that use it",
                )
    ancestors: list[int] | None = None  # computed on the first reference
    for index, step in enumerate(steps.items):
        for path, text in _templated_strings(step) if step is not None else ():
            for expression in _references(text):
                if ancestors is None:
                    ancestors = ancestor_masks(steps.edges, steps.components())
                _check_reference(index, field_text(path), expression, steps, ancestors, report)


def _check_reference(
    index: int, where: str, expression: str, steps: Steps, ancestors: list[int], report: Report
) -> None:
    parsed = _parse_reference(expression)
    if isinstance(parsed, str):
        report.add("steps", index, f"{where}: {parsed}")
        return
    target_id, attribute = parsed
    shown = expression[:80]
    own = id_text(steps.ids[index] or f"steps[{index}]")
    target = steps.first.get(target_id)
    if target is None:
        hint = report.suggest(target_id, list(steps.first))
        report.add("steps", index, f"{where} refers to {shown}, but no step has that id{hint}")
        return
    if target == index:
        report.add(
            "steps",
            index,
            f"{where} refers to {shown}, the step's own result; a step can only use results of the steps it depends on",
        )
        return
    target_step = steps.items[target] or {}
    if attribute in ("text", "output") and target_step.get("type") != "llm":
        report.add(
            "steps",
            index,
            f"{where} refers to {shown}, but .{attribute} exists only for llm steps and"
            f" {show(target_id)} is a {_type_text(target_step.get('type'))} step;"
            f" use steps.{id_text(target_id)}.outputs.NAME",
        )
    if not ancestors[index] >> target & 1:
        report.add(
            "steps",
            index,
            f"{where} refers to {shown} but {show(target_id)} is not upstream of {show(own)}; add it to depends_on",
        )
