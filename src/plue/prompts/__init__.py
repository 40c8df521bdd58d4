"""Prompt files: YAML frontmatter, input schema and a Handlebars-style renderer (floor 2: imports nothing of plue)."""

from __future__ import annotations

from plue.prompts.errors import PromptError, PromptInputError
from plue.prompts.files import PromptFile, load_prompt, parse_prompt
from plue.prompts.rendering import PartialLibrary, check_inputs, render_inline, render_prompt
from plue.prompts.template import TemplateError, render_template

__all__ = [
    "PartialLibrary",
    "PromptError",
    "PromptFile",
    "PromptInputError",
    "TemplateError",
    "check_inputs",
    "load_prompt",
    "parse_prompt",
    "render_inline",
    "render_prompt",
    "render_template",
]
