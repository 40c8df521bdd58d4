"""Random templates for the differential test: combinations of every construct, deterministic per seed.

The generator builds templates from the constructs Plue supports (mustaches of
every kind, helpers and subexpressions, blocks with ``{{else}}`` and
``{{else if}}``, block parameters, data variables, comments, partials in all
forms, raw blocks, escapes) placed on lines with indentation, blank lines and
``\\r\\n`` so that standalone-line removal and ``~`` are exercised; about one case
in twelve is broken on purpose. Contexts are random JSON over the same names.
"""

from __future__ import annotations

import random
from typing import Any

NAMES = ["a", "b", "items", "name", "n", "obj", "flag", "list", "empty", "zero", "text", "nested"]
WORDS = ["Review", "the", "code", "## Title", "- item", "`x`", "<b>", "a & b", '"q"', "'s'", "ok:", "*", "1.", "é"]
PARTIAL_NAMES = ["p", "q", "item-row", "dir/part"]
INDENTS = ["2", "0", '"--"', "12"]
SEPARATORS = ['", "', '""', "1", "null"]


class _Generator:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.block_params: list[str] = []

    def pick(self, options: list[Any]) -> Any:
        return self.rng.choice(options)

    def chance(self, probability: float) -> bool:
        return self.rng.random() < probability

    # --- values ----------------------------------------------------------------------

    def value(self, depth: int = 0) -> Any:
        roll = self.rng.random()
        if depth >= 3 or roll < 0.45:
            return self.pick(
                [0, 1, 2, 7, -3, 1.5, 0.1, 1e21, 100, True, False, None, "", "x", "hi there", "a\nb", "<&>", "0", " "]
            )
        if roll < 0.7:
            return [self.value(depth + 1) for _ in range(self.rng.randint(0, 3))]
        return {self.pick(NAMES): self.value(depth + 1) for _ in range(self.rng.randint(0, 3))}

    def context(self) -> dict[str, Any]:
        context: dict[str, Any] = {name: self.value() for name in NAMES if self.chance(0.7)}
        context["items"] = [self.value(1) for _ in range(self.rng.randint(0, 3))]
        if self.chance(0.5):
            context["items"] = [
                {"name": self.value(2), "n": self.pick([0, 1, 2])} for _ in range(self.rng.randint(0, 3))
            ]
        context["obj"] = {self.pick(NAMES): self.value(2) for _ in range(self.rng.randint(0, 3))}
        context["empty"] = self.pick([[], {}, "", None])
        context["zero"] = 0
        context["flag"] = self.pick([True, False])
        return context

    # --- expressions -----------------------------------------------------------------------

    def path(self) -> str:
        roll = self.rng.random()
        if self.block_params and roll < 0.15:
            return self.pick(self.block_params)
        if roll < 0.55:
            name = self.pick(NAMES)
            return name if self.chance(0.7) else f"{name}.{self.pick([*NAMES, 'length', '0', '[0]'])}"
        return self.pick(
            [
                "this",
                ".",
                "this.name",
                "./name",
                "../name",
                "../../a",
                "../items",
                "@index",
                "@key",
                "@first",
                "@last",
                "@root.name",
                "@root.items",
                "@../index",
                "[name]",
                "obj.[a]",
                "items.[1]",
                "text.length",
            ]
        )

    def literal(self) -> str:
        return self.pick(['"s"', "'t'", "1", "0", "-2", "1.5", "true", "false", "null", "undefined", '""'])

    def argument(self, depth: int) -> str:
        roll = self.rng.random()
        if roll < 0.55:
            return self.path()
        if roll < 0.8 or depth > 1:
            return self.literal()
        return f"({self.call(depth + 1)})"

    def call(self, depth: int = 0) -> str:
        roll = self.rng.random()
        if roll < 0.2:
            return f"eq {self.argument(depth)} {self.argument(depth)}"
        if roll < 0.35:
            return f"default {self.argument(depth)} {self.argument(depth)}"
        if roll < 0.5:
            indent = " indent=" + self.pick(INDENTS) if self.chance(0.3) else ""
            return f"json {self.argument(depth)}{indent}"
        if roll < 0.65:
            separator = " " + self.pick(SEPARATORS) if self.chance(0.6) else ""
            return f"join {self.argument(depth)}{separator}"
        if roll < 0.8:
            return f"lookup {self.argument(depth)} {self.argument(depth)}"
        if roll < 0.85:
            return f"log {self.argument(depth)}"
        return self.path()

    def tilde(self) -> str:
        return "~" if self.chance(0.12) else ""

    def mustache(self) -> str:
        open_, close = self.tilde(), self.tilde()
        roll = self.rng.random()
        if roll < 0.5:
            body = self.path()
        elif roll < 0.6:
            body = self.literal()
        else:
            body = self.call()
        style = self.rng.random()
        if style < 0.1:
            return f"{{{{{open_}{{{body}}}{close}}}}}"
        if style < 0.15:
            return f"{{{{{open_}& {body}{close}}}}}"
        spaces = " " if self.chance(0.3) else ""
        return f"{{{{{open_}{spaces}{body}{spaces}{close}}}}}"

    # --- text and statements ---------------------------------------------------------------

    def newline(self) -> str:
        return "\r\n" if self.chance(0.1) else "\n"

    def indent(self) -> str:
        return self.pick(["", "", "", "  ", "    ", "\t", " "])

    def text(self) -> str:
        roll = self.rng.random()
        if roll < 0.3:
            return self.newline()
        if roll < 0.45:
            return self.newline() + self.indent()
        if roll < 0.55:
            return self.pick([" ", "  ", "\t"])
        if roll < 0.58:
            return self.pick(["\\{{name}}", "\\\\{{name}}", "\\", "{", "}"])
        return self.pick(WORDS) + self.pick(["", " ", self.newline()])

    def body(self, depth: int, length: int | None = None) -> str:
        count = length if length is not None else self.rng.randint(0, 4)
        return "".join(self.statement(depth) for _ in range(count))

    def on_line(self, tag: str) -> str:
        """A tag, usually alone on its line (so that it is standalone) with some indentation."""
        if self.chance(0.6):
            return self.indent() + tag + self.newline()
        return tag

    def statement(self, depth: int) -> str:
        roll = self.rng.random()
        if depth > 2 or roll < 0.35:
            return self.text()
        if roll < 0.6:
            return self.mustache()
        if roll < 0.66:
            return self.on_line(self.pick(["{{! note }}", "{{!-- long }} note --}}", "{{~! strip ~}}"]))
        if roll < 0.76:
            return self.partial()
        return self.block(depth + 1)

    def block(self, depth: int) -> str:
        roll = self.rng.random()
        if roll < 0.25:
            return self.if_block(depth)
        if roll < 0.5:
            return self.each_block(depth)
        if roll < 0.6:
            return self.simple_block(depth, "with", self.path(), self.pick(["", " as |w|"]))
        if roll < 0.75:
            name = self.pick(NAMES)
            sigil = self.pick(["#", "#", "^"])
            return self.wrap(
                f"{{{{{self.tilde()}{sigil}{name}{self.tilde()}}}}}",
                f"{{{{{self.tilde()}/{name}{self.tilde()}}}}}",
                depth,
            )
        if roll < 0.8:
            return self.simple_block(depth, "unless", self.path(), "")
        if roll < 0.85:
            return self.pick(
                ["{{{{raw}}}} {{x}} {{{{/raw}}}}", "{{{{if flag}}}}{{name}}\n{{{{/if}}}}", "{{{{flag}}}}a{{{{/flag}}}}"]
            )
        if roll < 0.92:
            name = self.pick(["p", "layout", "missing"])
            inner = self.body(depth)
            return self.on_line(f"{{{{#> {name}}}}}") + inner + self.on_line(f"{{{{/{name}}}}}")
        name = self.pick(PARTIAL_NAMES)
        return self.on_line(f'{{{{#*inline "{name}"}}}}') + self.body(depth) + self.on_line("{{/inline}}")

    def wrap(self, open_tag: str, close_tag: str, depth: int, params: list[str] | None = None) -> str:
        if params:
            self.block_params.extend(params)
        inner = self.body(depth)
        if params:
            del self.block_params[-len(params) :]
        middle = ""
        if self.chance(0.3):
            middle = self.on_line(f"{{{{{self.tilde()}else{self.tilde()}}}}}") + self.body(depth)
        return self.on_line(open_tag) + inner + middle + self.on_line(close_tag)

    def simple_block(self, depth: int, helper: str, argument: str, params: str) -> str:
        names = params.strip()[4:-1].split() if params else []
        return self.wrap(
            f"{{{{{self.tilde()}#{helper} {argument}{params}{self.tilde()}}}}}",
            f"{{{{{self.tilde()}/{helper}{self.tilde()}}}}}",
            depth,
            names,
        )

    def if_block(self, depth: int) -> str:
        condition = self.argument(0)
        hash_ = " includeZero=true" if self.chance(0.15) else ""
        parts = [self.on_line(f"{{{{{self.tilde()}#if {condition}{hash_}{self.tilde()}}}}}"), self.body(depth)]
        for _ in range(self.rng.randint(0, 2)):
            parts.append(self.on_line(f"{{{{{self.tilde()}else if {self.argument(0)}{self.tilde()}}}}}"))
            parts.append(self.body(depth))
        if self.chance(0.4):
            parts.append(self.on_line(f"{{{{{self.tilde()}else{self.tilde()}}}}}"))
            parts.append(self.body(depth))
        parts.append(self.on_line(f"{{{{{self.tilde()}/if{self.tilde()}}}}}"))
        return "".join(parts)

    def each_block(self, depth: int) -> str:
        target = self.pick(["items", "obj", "list", "empty", "nested", "this", "../items", "@root.items", "text"])
        params = self.pick(["", "", " as |item|", " as |item i|"])
        return self.simple_block(depth, "each", target, params)

    def partial(self) -> str:
        name = self.pick([*PARTIAL_NAMES, *PARTIAL_NAMES, '"p"', "(lookup . 'pname')", "missing"])
        roll = self.rng.random()
        arguments = ""
        if roll < 0.25:
            arguments = " " + self.path()
        elif roll < 0.45:
            arguments = f" k={self.argument(1)}"
        elif roll < 0.5:
            arguments = f" {self.path()} k={self.argument(1)}"
        tag = f"{{{{{self.tilde()}> {name}{arguments}{self.tilde()}}}}}"
        return self.on_line(tag) if self.chance(0.7) else tag

    # --- whole cases ---------------------------------------------------------------------------

    def break_it(self, template: str) -> str:
        """Damage a template the way people do: drop or swap a closing tag, leave a tag open."""
        roll = self.rng.random()
        if roll < 0.25 and "{{/" in template:
            start = template.rindex("{{/")
            return template[:start] + template[template.index("}}", start) + 2 :]
        if roll < 0.45:
            return template + self.pick(["{{/if}}", "{{else}}", "{{/each}}", "{{^}}"])
        if roll < 0.65:
            return template + self.pick(["{{name", "{{#if a}}", "{{> }}", "{{{name}}", "{{!-- open"])
        if roll < 0.8:
            return (
                self.pick(["{{#if a}}x{{/each}}", "{{#each}}{{/each}}", "{{#with a b}}{{/with}}", "{{foo 1}}"])
                + template
            )
        return template + self.pick(["{{a.[b}}", "{{a..b}}", "{{#each items as |x|}}{{/each}}", "{{foo bar}}"])

    def case(self, index: int) -> dict[str, Any]:
        self.block_params = []
        template = self.body(0, self.rng.randint(1, 7))
        if self.chance(1 / 12):
            template = self.break_it(template)
        partials: dict[str, str] = {}
        for name in PARTIAL_NAMES:
            if self.chance(0.93):
                self.block_params = []
                partials[name] = self.body(2, self.rng.randint(0, 4))
        partials["layout"] = self.pick(
            [
                "<{{> @partial-block}}>",
                "  {{> @partial-block}}\n",
                "{{#if @partial-block}}[{{> @partial-block}}]{{/if}}",
                "L",
            ]
        )
        context = self.context()
        context["pname"] = self.pick([*PARTIAL_NAMES, "nope"])
        return {"name": f"fuzz-{index}", "template": template, "context": context, "partials": partials}


SOUP = [
    "{{",
    "}}",
    "{{{",
    "}}}",
    "{{#",
    "{{/",
    "{{^",
    "{{else",
    "{{>",
    "{{#>",
    "{{!",
    "--}}",
    "{{!--",
    "{{&",
    "{{*",
    "{{#*",
    "~",
    " ",
    "\n",
    "if",
    "each",
    "with",
    "unless",
    "x",
    "a.b",
    "../",
    "./",
    "@index",
    "@root",
    "(",
    ")",
    "=",
    '"s"',
    "'s'",
    "as |x|",
    "|",
    "[a b]",
    "[",
    "]",
    "1",
    "-1",
    "1.5",
    "true",
    "null",
    "undefined",
    "\\",
    "{{{{",
    "}}}}",
    "{{{{/raw}}}}",
    "raw",
    "this",
    ".",
    "/",
    "..",
    "inline",
    "k=",
    "eq",
    "json",
    "}",
    "{",
    "else",
    "^",
    "#",
]


def _soup_case(rng: random.Random, index: int) -> dict[str, Any]:
    pieces = [rng.choice(SOUP) for _ in range(rng.randint(2, 14))]
    template = "".join(pieces)
    context = {"x": rng.choice([1, "x", [1, 2], {"a": 1}, True, None]), "a": {"b": rng.choice([0, "B"])}, "s": "S"}
    return {"name": f"soup-{index}", "template": template, "context": context, "partials": {"x": "X{{.}}"}}


def generate_cases(seed: int, count: int) -> list[dict[str, Any]]:
    """`count` random cases (``{"name", "template", "context", "partials"}``), the same for the same seed.

    Nine in ten are structured templates; the rest are "token soup", random runs of
    tag fragments that probe which templates the parser accepts.
    """
    generator = _Generator(random.Random(seed))
    soup = random.Random(seed + 1)
    return [_soup_case(soup, index) if index % 10 == 9 else generator.case(index) for index in range(count)]
