"""Splitting a prompt file into its YAML frontmatter and its body, keeping line numbers for errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from plue.prompts.errors import PromptError

FENCE = "---"


@dataclass(frozen=True)
class Frontmatter:
    fields: dict[str, Any]  # the YAML mapping (empty when the file has no frontmatter)
    lines: dict[str, int]  # top-level key -> its 1-based line in the file
    body: str
    body_line: int  # 1-based line of the file where the body starts


def split_frontmatter(path: str, text: str) -> Frontmatter:
    """The frontmatter (between a first line `---` and the next `---` line) and the body after it.

    A file without a first `---` line is all body. The body starts right after the
    closing fence's newline, so it renders exactly as written.
    """
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].rstrip("\r\n") != FENCE:
        return Frontmatter({}, {}, text, 1)
    for index in range(1, len(lines)):
        if lines[index].rstrip("\r\n") in (FENCE, "..."):
            yaml_text = "".join(lines[1:index])
            body = "".join(lines[index + 1 :])
            fields, key_lines = _parse_yaml(path, yaml_text, first_line=2)
            return Frontmatter(fields, key_lines, body, index + 2)
    raise PromptError(path, 1, "the frontmatter is not closed; end it with a line holding only '---'")


def _parse_yaml(path: str, text: str, first_line: int) -> tuple[dict[str, Any], dict[str, int]]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        fields = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = first_line + mark.line if mark is not None else first_line
        problem = exc.problem or exc.context or "invalid YAML"
        raise PromptError(path, line, f"invalid YAML in the frontmatter: {problem}") from None
    except yaml.YAMLError as exc:
        raise PromptError(path, first_line, f"invalid YAML in the frontmatter: {exc}") from None
    if fields is None:
        return {}, {}
    if not isinstance(fields, dict) or not isinstance(node, yaml.MappingNode):
        raise PromptError(path, first_line, "the frontmatter must be a YAML mapping of fields (name: ..., schema: ...)")
    key_lines = {
        str(key.value): first_line + key.start_mark.line for key, _ in node.value if isinstance(key, yaml.ScalarNode)
    }
    return {str(key): value for key, value in fields.items()}, key_lines
