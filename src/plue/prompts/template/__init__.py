"""A Handlebars renderer whose output matches handlebars.js 4.7 (``noEscape``, non-strict) byte for byte.

Pipeline: `lexer` (tokens) → `parser` (the AST of `ast`) → `whitespace` (``~`` and
standalone lines) → `compiler` (how each tag is called) → `evaluator` (rendering,
with `partials`, the `helpers` and their `options`, the JavaScript value semantics
of `values` and `json_text`, and `output`'s JavaScript ``+`` joining).

The reference is handlebars.js itself: ``tests/prompts/`` holds a corpus of cases
recorded from it, the harness that produced them, and a differential fuzzer.
"""

from __future__ import annotations

from plue.prompts.template.compiled import Template, compile_template, render_template
from plue.prompts.template.errors import TemplateError

__all__ = ["Template", "TemplateError", "compile_template", "render_template"]
