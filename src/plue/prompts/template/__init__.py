"""Placeholder until the Handlebars-style renderer lands (it replaces this package)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class TemplateError(Exception):
    def __init__(self, message: str, line: int = 1, column: int = 1, source: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        self.source = source


def render_template(template: str, context: Mapping[str, Any], partials: Mapping[str, str]) -> str:
    return template
