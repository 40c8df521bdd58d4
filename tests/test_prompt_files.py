"""Prompt files: frontmatter fields, their checks, input validation, partials from the prompt's directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from plue.prompts import PromptError, PromptInputError, load_prompt, render_inline, render_prompt
from plue.registry.discovery import discover_prompts

REVIEW = """\
---
name: code-review
description: Review code changes
schema:
  type: object
  required: [files]
  properties:
    files:
      type: array
      items: {type: object, required: [path, diff], properties: {path: {type: string}, diff: {type: string}}}
    focus: {type: string, default: correctness}
output:
  type: object
  required: [verdict]
  properties: {verdict: {enum: [approve, request_changes]}}
model: claude-sonnet-4-5
tools: [read_file, grep]
max_turns: 5
---
Review the following code changes (focus: {{focus}}):

{{#each files}}
## {{this.path}}
{{this.diff}}
{{/each}}
"""

FILES = {"files": [{"path": "a.py", "diff": "-x = 1\n+x = 2 && y < 3"}, {"path": "b.md", "diff": "+`code` & 'q'"}]}


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def problem(path: Path, text: str | bytes) -> str:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        write(path, text)
    with pytest.raises(PromptError) as caught:
        load_prompt(path)
    return str(caught.value)


def test_fields_are_read(tmp_path: Path) -> None:
    prompt = load_prompt(write(tmp_path / "review.md", REVIEW))
    assert (prompt.name, prompt.description, prompt.model, prompt.tools, prompt.max_turns) == (
        "code-review",
        "Review code changes",
        "claude-sonnet-4-5",
        ("read_file", "grep"),
        5,
    )
    assert prompt.schema is not None and prompt.schema["required"] == ["files"]
    assert prompt.output is not None and prompt.output["required"] == ["verdict"]
    assert prompt.body.startswith("Review the following") and prompt.body_line == 20


def test_render_fills_defaults_and_keeps_text_unescaped(tmp_path: Path) -> None:
    prompt = load_prompt(write(tmp_path / "review.md", REVIEW))
    assert render_prompt(prompt, FILES) == (
        "Review the following code changes (focus: correctness):\n\n"
        "## a.py\n-x = 1\n+x = 2 && y < 3\n"
        "## b.md\n+`code` & 'q'\n"
    )


def test_every_input_violation_is_listed_with_its_path(tmp_path: Path) -> None:
    path = write(tmp_path / "review.md", REVIEW)
    prompt = load_prompt(path)
    with pytest.raises(PromptInputError) as caught:
        render_prompt(prompt, {"files": [{"path": 3, "diff": "x"}, {"path": "b"}], "focus": 7})
    assert caught.value.violations == [
        "inputs.files[0].path: 3 is not of type 'string'",
        "inputs.files[1]: 'diff' is a required property",
        "inputs.focus: 7 is not of type 'string'",
    ]
    assert str(caught.value).startswith(f"{path}:4: the inputs do not match the prompt's schema:")
    with pytest.raises(PromptInputError, match="'files' is a required property"):
        render_prompt(prompt, {})


def test_a_file_without_frontmatter_is_all_body(tmp_path: Path) -> None:
    prompt = load_prompt(write(tmp_path / "prompts" / "hello.md", "Hello {{who}}!\n"))
    assert (prompt.name, prompt.schema, prompt.body_line) == ("hello", None, 1)
    assert render_prompt(prompt, {"who": "world"}) == "Hello world!\n"
    assert load_prompt(write(tmp_path / "x.prompt.md", "---\n---\nbody")).name == "x"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("---\nname: x\n", ":1: the frontmatter is not closed"),
        ("---\nname: [x\n---\n", ":3: invalid YAML in the frontmatter"),
        ("---\n- a\n- b\n---\n", ":2: the frontmatter must be a YAML mapping"),
        ("---\nname: x\nshema: {}\n---\n", ":3: unknown frontmatter field 'shema'; did you mean 'schema'?"),
        ("---\nname: x\ncolour: red\n---\n", ":3: unknown frontmatter field 'colour'; the fields are: name,"),
        ("---\nname: 3\n---\n", ":2: 'name' must be a non-empty text"),
        ("---\nschema: [a]\n---\n", ":2: 'schema' must be a JSON Schema"),
        ("---\nschema: {type: objec}\n---\n", ":2: 'schema' is not a valid JSON Schema at type:"),
        ("---\noutput:\n  properties: {a: {minLength: -1}}\n---\n", ":2: 'output' is not a valid JSON Schema at"),
        ("---\ntools: read_file\n---\n", ":2: 'tools' must be a list of tool names"),
        ("---\nmax_turns: 0\n---\n", ":2: 'max_turns' must be a whole number from 1 to 1000"),
        ("---\nmax_turns: true\n---\n", ":2: 'max_turns' must be a whole number"),
        ("---\nname: x\n---\nline\n{{#each files}}\n", ":5:"),
    ],
)
def test_bad_files_are_reported_at_their_line(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "bad.md"
    message = problem(path, text)
    assert message.startswith(f"{path}{expected}"), message
    assert "Traceback" not in message


def test_unreadable_files(tmp_path: Path) -> None:
    assert problem(tmp_path / "bin.md", b"---\nname: x\n---\nok\n\xff\n").endswith(
        ":5: the prompt file is not valid UTF-8; save it as UTF-8"
    )
    assert "larger than 1024 KiB" in problem(tmp_path / "big.md", "x" * (1024 * 1024 + 1))
    with pytest.raises(PromptError, match="no such prompt file"):
        load_prompt(tmp_path / "missing.md")
    with pytest.raises(PromptError, match="is a directory"):
        load_prompt(tmp_path)


def test_a_byte_order_mark_and_crlf_line_ends_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "win.md"
    path.write_bytes(b"\xef\xbb\xbf---\r\nname: win\r\n---\r\nHi {{x}}\r\n")
    prompt = load_prompt(path)
    assert prompt.name == "win" and render_prompt(prompt, {"x": 1}) == "Hi 1\r\n"


def test_partials_come_from_the_prompt_directory(tmp_path: Path) -> None:
    write(tmp_path / "prompts" / "header.md", "---\nname: header\n---\n# {{title}}\n")
    write(tmp_path / "prompts" / "shared" / "footer.prompt.md", "-- {{sign}}")
    main = write(tmp_path / "prompts" / "main.md", "{{> header}}\nbody\n{{> shared/footer}}")
    rendered = render_prompt(load_prompt(main), {"title": "T", "sign": "me"})
    assert rendered == "# T\nbody\n-- me"


def test_partials_never_come_from_outside_the_directory(tmp_path: Path) -> None:
    write(tmp_path / "secret.md", "SECRET")
    (tmp_path / "prompts").mkdir()
    os.symlink(tmp_path / "secret.md", tmp_path / "prompts" / "link.md")
    for name in ("../secret", "link", "/etc/passwd"):
        main = write(tmp_path / "prompts" / "main.md", f"x\n{{{{> {name}}}}}")
        with pytest.raises(PromptError) as caught:
            render_prompt(load_prompt(main), {})
        assert str(caught.value).startswith(f"{main}:2:"), caught.value
        assert "SECRET" not in str(caught.value)


def test_an_error_inside_a_partial_names_the_partial_file(tmp_path: Path) -> None:
    partial = write(tmp_path / "part.md", "---\nname: part\n---\nok\n{{broken x}}\n")
    main = write(tmp_path / "main.md", "{{> part}}")
    with pytest.raises(PromptError) as caught:
        render_prompt(load_prompt(main), {})
    assert str(caught.value).startswith(f"{partial}:5:"), caught.value


def test_render_inline(tmp_path: Path) -> None:
    write(tmp_path / "sig.md", "(bot)")
    assert render_inline("Fix {{issue.title}} {{> sig}}", {"issue": {"title": "#1"}}, partials_dir=tmp_path) == (
        "Fix #1 (bot)"
    )
    with pytest.raises(PromptError, match=r"^prompt:2:"):
        render_inline("ok\n{{#if x}}", {})
    with pytest.raises(PromptError, match=r"^prompt:1:"):
        render_inline("{{> sig}}", {})  # no partials directory


def test_discovery_finds_prompt_files_only(tmp_path: Path) -> None:
    write(tmp_path / "prompts" / "a.md", "a")
    write(tmp_path / "prompts" / "deep" / "b.md", "b")
    write(tmp_path / "docs" / "c.prompt.md", "c")
    write(tmp_path / "docs" / "readme.md", "not a prompt")
    write(tmp_path / "prompts" / "notes.txt", "not markdown")
    write(tmp_path / "node_modules" / "prompts" / "x.md", "vendored")
    found = [str(path) for path in discover_prompts(tmp_path)]
    assert found == ["docs/c.prompt.md", "prompts/a.md", "prompts/deep/b.md"]
