"""``plue prompt lint|render``: check a repository's prompt files, or render one exactly as a step would."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from plue.cli.invocation import parse_input_pairs, read_payload
from plue.cli.output import Output, plural
from plue.llm.tools import ToolSpecError, parse_tool_specs
from plue.prompts import PartialLibrary, PromptError, load_prompt, render_prompt
from plue.registry.discovery import discover_prompts

REPO_ARGUMENT = click.Path(exists=True, file_okay=False, dir_okay=True, path_type=Path)
FILE_ARGUMENT = click.Path(exists=True, file_okay=True, dir_okay=False, path_type=Path)
DIR_OPTION = click.Path(exists=True, file_okay=False, dir_okay=True, path_type=Path)
# Schema types whose command-line values are read as JSON (`--input count=3` is the number 3).
JSON_TYPES = frozenset({"integer", "number", "boolean", "array", "object", "null"})


@click.group()
def prompt() -> None:
    """Check and render prompt files (Markdown with YAML frontmatter and a Handlebars-style body)."""


@prompt.command()
@click.argument("repo", type=REPO_ARGUMENT, default=".")
def lint(repo: Path) -> None:
    """Check every prompt file of REPO (*.prompt.md, and *.md under prompts/); exit 1 on a problem."""
    out = Output()
    paths = discover_prompts(repo)
    problems: list[str] = []
    for relative in paths:
        problems.extend(_problems(repo, relative))
    for problem in problems:
        out.line(problem)
    files = plural(len(paths), "prompt file")
    if problems:
        out.line(f"{plural(len(problems), 'problem')} in {files}")
        raise click.exceptions.Exit(1)
    out.line(f"{files} checked, no problems")


def _problems(repo: Path, relative: Path) -> list[str]:
    try:
        loaded = load_prompt(repo / relative)
    except PromptError as exc:
        return [_relative(str(exc), repo)]
    problems = []
    if loaded.tools is not None:
        try:
            parse_tool_specs(loaded.tools)
        except ToolSpecError as exc:
            problems.append(f"{relative}:{loaded.field_lines.get('tools', 1)}: {exc}")
    partials = PartialLibrary(loaded.path.parent)
    for name, line in loaded.template.partial_references():
        if name not in partials:
            where = relative.parent.as_posix() or "."
            problems.append(
                f"{relative}:{loaded.body_line + line - 1}: the partial '{name}' is not in {where}/"
                f" (as {name}.md or {name}.prompt.md); add it or fix the name"
            )
    return problems


def _relative(message: str, repo: Path) -> str:
    prefix = f"{repo}/"
    return message.removeprefix(prefix) if prefix != "./" else message


@prompt.command()
@click.argument("file", type=FILE_ARGUMENT)
@click.option("--input", "input_pairs", metavar="NAME=VALUE", multiple=True, help="An input (repeatable).")
@click.option("--inputs", "inputs_path", metavar="INPUTS.json", help="A JSON object of inputs ('-': stdin).")
@click.option(
    "--partials-dir",
    type=DIR_OPTION,
    help="Where {{> partials}} are found (default: the prompt's directory).",
)
def render(file: Path, input_pairs: Sequence[str], inputs_path: str | None, partials_dir: Path | None) -> None:
    """Render FILE with its inputs and print the result exactly (no newline added)."""
    try:
        loaded = load_prompt(file)
    except PromptError as exc:
        raise click.ClickException(str(exc)) from None
    inputs: dict[str, Any] = _read_inputs(inputs_path) if inputs_path else {}
    inputs.update(_typed(parse_input_pairs(input_pairs), loaded.schema))
    try:
        text = render_prompt(loaded, inputs, partials_dir=partials_dir)
    except PromptError as exc:
        click.echo(f"plue: error: {exc}", err=True)
        raise click.exceptions.Exit(1) from None
    sys.stdout.write(text)
    sys.stdout.flush()


def _read_inputs(path: str) -> dict[str, Any]:
    data = read_payload(path)
    try:
        value = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise click.BadParameter(f"{path} is not valid JSON: {exc}", param_hint="'--inputs'") from None
    if not isinstance(value, dict):
        raise click.BadParameter(f"{path} must hold a JSON object of inputs", param_hint="'--inputs'")
    return value


def _typed(pairs: Mapping[str, str], schema: Mapping[str, Any] | None) -> dict[str, Any]:
    """Command-line values as the schema wants them: JSON for numbers, booleans, lists and objects."""
    properties = schema.get("properties") if isinstance(schema, Mapping) else None
    typed: dict[str, Any] = {}
    for name, value in pairs.items():
        definition = properties.get(name) if isinstance(properties, Mapping) else None
        wanted = definition.get("type") if isinstance(definition, Mapping) else None
        kinds = set(wanted) if isinstance(wanted, list) else {wanted}
        if kinds & JSON_TYPES and "string" not in kinds:
            try:
                typed[name] = json.loads(value)
                continue
            except json.JSONDecodeError:
                pass  # left as text: the schema check then says what is expected
        typed[name] = value
    return typed
