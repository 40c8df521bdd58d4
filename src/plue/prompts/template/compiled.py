"""`Template`: a template parsed once and rendered many times; `compile_template` and `render_template`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from plue.prompts.template.compiler import compile_program
from plue.prompts.template.evaluator import render
from plue.prompts.template.references import partial_references


class Template:
    """A compiled template. ``render`` gives what handlebars.js gives with ``{noEscape: true, strict: false}``."""

    def __init__(self, text: str, source: str) -> None:
        self.source = source
        self._program = compile_program(text, source)

    def partial_references(self) -> list[tuple[str, int]]:
        """(name, line) of each partial the template names statically (`{{> name}}`)."""
        return partial_references(self._program)

    def render(self, context: Mapping[str, Any], partials: Mapping[str, str]) -> str:
        """The output for `context`; `partials` is read with ``.get(name)`` only, when a partial is used."""
        return render(self._program, self.source, context, partials)


def compile_template(template: str, *, source: str = "<template>") -> Template:
    """Parse `template` (errors are `TemplateError`s naming `source`); render it with ``Template.render``."""
    return Template(template, source)


def render_template(template: str, context: Mapping[str, Any], partials: Mapping[str, str]) -> str:
    return compile_template(template).render(context, partials)
