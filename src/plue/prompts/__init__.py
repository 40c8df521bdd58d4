"""Prompt files: YAML frontmatter, input schema and a Handlebars-style renderer (floor 2: imports nothing of plue)."""

from __future__ import annotations

from plue.prompts.template import TemplateError, render_template

__all__ = ["TemplateError", "render_template"]
