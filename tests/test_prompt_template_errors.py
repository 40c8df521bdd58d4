"""The template renderer's errors and limits: where problems are reported, and that nothing but
`TemplateError` comes out of a hostile template or context, and never a hang."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
from prompts.fuzz import SOUP, generate_cases

from plue.prompts.template import TemplateError, compile_template, render_template


def error_of(
    template: str, context: dict[str, Any] | None = None, partials: dict[str, str] | None = None
) -> TemplateError:
    with pytest.raises(TemplateError) as caught:
        compile_template(template, source="prompts/review.md").render(context or {}, partials or {})
    return caught.value


class RecordingPartials:
    """A read-only partial source that, like the prompt-file layer's, must only be asked for what is used."""

    def __init__(self, partials: dict[str, str]) -> None:
        self.partials = partials
        self.asked: list[str] = []

    def get(self, name: str, default: Any = None) -> Any:
        self.asked.append(name)
        return self.partials.get(name, default)

    def __contains__(self, name: object) -> bool:
        return name in self.partials

    def __getitem__(self, name: str) -> str:
        raise AssertionError("the renderer must use .get(), not []")

    def __iter__(self) -> Any:
        raise AssertionError("the renderer must not list the partials")


# --- where errors are reported ------------------------------------------------------


def test_error_string_is_source_line_column_message() -> None:
    error = error_of("line 1\nline 2 {{#if ready}}\nno end")
    assert (error.source, error.line, error.column) == ("prompts/review.md", 2, 8)
    assert error.message == "the block {{#if}} is never closed: end it with {{/if}}"
    assert str(error) == "prompts/review.md:2:8: the block {{#if}} is never closed: end it with {{/if}}"


@pytest.mark.parametrize(
    ("template", "line", "column", "words"),
    [
        ("ok\n  {{name", 2, 3, "never closed"),
        ("{{#if a}}\n{{/each}}", 2, 1, "does not match"),
        ("a\nb {{/if}}", 2, 3, "never opened"),
        ("x\n\n{{else}}", 3, 1, "outside a block"),
        ('{{json "open}}', 1, 8, "string is never closed"),
        ("{{a}}\n{{b%c}}", 2, 4, "unexpected character '%'"),
        ("{{!-- never\nclosed", 1, 1, "comment"),
        ("{{> p a b}}", 1, 1, "at most one context argument"),
        ("{{#each items as |[x]|}}{{/each}}", 1, 22, "brackets"),
    ],
)
def test_syntax_errors_point_at_the_problem(template: str, line: int, column: int, words: str) -> None:
    error = error_of(template)
    assert (error.line, error.column) == (line, column), str(error)
    assert words in error.message


def test_compile_reports_syntax_errors_before_any_render() -> None:
    with pytest.raises(TemplateError) as caught:
        compile_template("{{#each items}}", source="inline")
    assert caught.value.source == "inline"


def test_runtime_errors_point_at_the_tag() -> None:
    error = error_of("Hello\n  {{shout name}}", {"name": "x"})
    assert (error.line, error.column) == (2, 3)
    assert 'Missing helper: "shout"' in error.message
    error = error_of("{{#each}}\n{{/each}}")
    assert (error.line, error.column) == (1, 1)
    assert "#each" in error.message


def test_an_error_inside_a_partial_names_the_partial() -> None:
    partials = {"outer": "fine\n{{> inner}}", "inner": "one\ntwo {{#with a b}}x{{/with}}"}
    error = error_of("{{> outer}}", {}, partials)
    assert (error.source, error.line, error.column) == ("inner", 2, 5)
    assert "#with requires exactly one argument" in error.message
    syntax = error_of("ok\n{{> broken}}", {}, {"broken": "a\n\n  {{/if}}"})
    assert (syntax.source, syntax.line, syntax.column) == ("broken", 3, 3)


def test_an_error_inside_an_inline_partial_is_placed_in_the_template_defining_it() -> None:
    error = error_of('{{#*inline "row"}}\n{{nope 1}}\n{{/inline}}\n{{> row}}')
    assert (error.source, error.line, error.column) == ("prompts/review.md", 2, 1)


def test_missing_partials_say_which() -> None:
    error = error_of("a\n{{> header}}", {}, {"footer": ""})
    assert (error.line, error.message) == (
        2,
        "The partial header could not be found: check its name, or add the partial",
    )


# --- the partial source ---------------------------------------------------------------------


def test_partials_are_read_with_get_and_only_when_used() -> None:
    partials = RecordingPartials({"used": "U{{> nested}}", "nested": "N", "unused": "{{#if}} broken"})
    template = compile_template("{{#if show}}{{> used}}{{/if}}")
    assert template.render({"show": True}, partials) == "UN"  # type: ignore[arg-type]
    assert partials.asked == ["used", "nested"]
    partials.asked.clear()
    assert template.render({"show": False}, partials) == ""  # type: ignore[arg-type]
    assert partials.asked == []


# --- limits ------------------------------------------------------------------------------------


def test_a_partial_that_includes_itself_is_stopped() -> None:
    error = error_of("{{> loop}}", {}, {"loop": "again {{> loop}}"})
    assert error.source == "loop"
    assert "include itself" in error.message


def test_recursive_partials_over_shallow_data_still_work() -> None:
    tree = {"name": "root", "children": [{"name": "a", "children": [{"name": "b", "children": []}]}]}
    node = "{{name}}\n{{#each children}}\n  {{> node}}\n{{/each}}\n"
    assert render_template("{{> node}}", tree, {"node": node}) == "root\n  a\n    b\n"


def test_output_larger_than_the_cap_is_refused() -> None:
    error = error_of("{{#each items}}{{../big}}{{/each}}", {"items": list(range(2000)), "big": "x" * 10_000})
    assert "larger than 10 MiB" in error.message


def test_indenting_a_partial_past_the_cap_is_refused() -> None:
    error = error_of(" " * 1000 + "{{> lines}}\n", {}, {"lines": "\n" * 20_000})
    assert "larger than 10 MiB" in error.message


def test_too_much_work_is_refused() -> None:
    loops = "{{#each n}}{{#each ../n}}{{#each ../../n}}{{/each}}{{/each}}{{/each}}"
    error = error_of(loops, {"n": list(range(200))})
    assert "steps" in error.message


def test_deeply_nested_blocks_are_refused() -> None:
    error = error_of("{{#if a}}" * 200 + "{{/if}}" * 200)
    assert "nested more than" in error.message
    chain = "{{#if a}}" + "{{else if a}}" * 100 + "{{/if}}"
    assert "nested more than" in error_of(chain).message


def test_deeply_nested_data_is_refused() -> None:
    deep_object: Any = 1
    deep_list: Any = 1
    for _ in range(5000):
        deep_object = {"a": deep_object}
        deep_list = [deep_list]
    assert "nested too deeply" in error_of("{{json x}}", {"x": deep_object}).message
    assert "nested too deeply" in error_of("{{x}}", {"x": deep_list}).message


# --- values that JSON cannot hold ----------------------------------------------------------------


class Shown:
    def __str__(self) -> str:
        return "shown"


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no")


def test_non_json_values_render_as_javascript_or_as_their_text() -> None:
    context = {"nan": math.nan, "inf": math.inf, "ninf": -math.inf, "tuple": (1, None, 2), "obj": Shown()}
    assert (
        render_template("{{nan}} {{inf}} {{ninf}} {{tuple}} {{obj}}", context, {})
        == "NaN Infinity -Infinity 1,,2 shown"
    )
    assert render_template("{{json list}}", {"list": [math.nan, math.inf, Shown()]}, {}) == '[null,null,"shown"]'
    assert render_template("[{{bad}}]", {"bad": Unprintable()}, {}) == "[<Unprintable>]"


def test_a_value_containing_itself() -> None:
    looped: list[Any] = [1]
    looped.append(looped)
    assert render_template("{{x}}", {"x": looped}, {}) == "1,"  # as JavaScript's Array.prototype.join
    assert "contains itself" in error_of("{{json x}}", {"x": looped}).message


def test_log_writes_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    assert render_template('{{log "hello" level="error"}}done', {}, {}) == "done"
    assert capsys.readouterr() == ("", "")


# --- hostile input ------------------------------------------------------------------------------------


def test_random_templates_and_contexts_raise_only_template_errors() -> None:
    rng = random.Random(20240611)
    alphabet = [*SOUP, "\x00", "\ud800", "😀", "\r", "\u2028", "{{{{", "@partial-block", "../../..", "(((", ")))"]
    hostile_values: list[Any] = [math.nan, -0.0, 10**400, (1, 2), {1: "int key"}, b"bytes", Shown(), Unprintable()]
    cases = generate_cases(99, 300)
    for index in range(1500):
        if index < len(cases):
            template, context, partials = cases[index]["template"], cases[index]["context"], cases[index]["partials"]
        else:
            template = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 25)))
            context = {"x": rng.choice(hostile_values), "a": {"b": rng.choice(hostile_values)}}
            partials = {"x": "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 10)))}
        try:
            output = render_template(template, context, partials)
        except TemplateError as exc:
            assert exc.message and exc.line >= 1 and exc.column >= 1
        else:
            assert isinstance(output, str)
