"""`plue prompt lint|render` from the command line: exact output, exit codes, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from test_prompt_files import FILES, REVIEW, write


def plue(*args: str | Path, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "plue", *map(str, args)],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_render_prints_the_prompt_exactly(tmp_path: Path) -> None:
    write(tmp_path / "prompts" / "review.md", REVIEW)
    (tmp_path / "inputs.json").write_text(json.dumps(FILES))
    args = ["prompt", "render", "prompts/review.md", "--inputs", "inputs.json", "--input", "focus=style"]
    result = plue(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "Review the following code changes (focus: style):\n\n"
        "## a.py\n-x = 1\n+x = 2 && y < 3\n## b.md\n+`code` & 'q'\n"
    )


def test_render_reads_typed_inputs_and_stdin(tmp_path: Path) -> None:
    prompt = write(
        tmp_path / "count.md",
        "---\nschema:\n  properties: {n: {type: integer}, tags: {type: array}, label: {type: string}}\n---\n"
        '{{n}} {{join tags "+"}} {{label}}',
    )
    result = plue("prompt", "render", prompt, "--inputs", "-", "--input", "n=3", "--input", "label=007", cwd=tmp_path,
                  stdin='{"tags": ["a", "b"]}')  # fmt: skip
    assert (result.returncode, result.stdout) == (0, "3 a+b 007"), result.stderr


def test_render_errors(tmp_path: Path) -> None:
    prompt = write(tmp_path / "review.md", REVIEW)
    bad_inputs = plue("prompt", "render", prompt, "--input", "files=[1]", cwd=tmp_path)
    assert bad_inputs.returncode == 1 and bad_inputs.stdout == ""
    assert f"{prompt}:4: the inputs do not match the prompt's schema:" in bad_inputs.stderr
    assert "inputs.files[0]: 1 is not of type 'object'" in bad_inputs.stderr
    broken = write(tmp_path / "broken.md", "a\n{{#if x}}\nb\n")
    result = plue("prompt", "render", broken, cwd=tmp_path)
    assert result.returncode == 1 and result.stderr.startswith(f"plue: error: {broken}:2:")
    pair = plue("prompt", "render", prompt, "--input", "novalue", cwd=tmp_path)
    assert pair.returncode == 2 and "--input" in pair.stderr
    not_json = plue("prompt", "render", prompt, "--inputs", "-", cwd=tmp_path, stdin="[1]")
    assert not_json.returncode == 2 and "JSON object" in not_json.stderr
    for done in (bad_inputs, result, pair, not_json):
        assert "Traceback" not in done.stderr


def test_render_with_a_partials_directory(tmp_path: Path) -> None:
    write(tmp_path / "shared" / "sig.md", "-- {{who}}")
    prompt = write(tmp_path / "p" / "mail.md", "Hi\n{{> sig}}")
    result = plue("prompt", "render", prompt, "--partials-dir", tmp_path / "shared", "--input", "who=me", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (0, "Hi\n-- me"), result.stderr


def test_lint_reports_every_problem_with_its_line(tmp_path: Path) -> None:
    write(tmp_path / "prompts" / "review.md", REVIEW)
    write(tmp_path / "prompts" / "typo.md", "---\nname: t\nshema: {}\n---\n")
    write(tmp_path / "prompts" / "tools.md", "---\ntools: [read_file, rm_rf]\n---\n")
    write(tmp_path / "fix.prompt.md", "{{#each x}}\n{{/with}}\n")
    write(tmp_path / "prompts" / "parts.md", "---\nname: p\n---\n{{> review}}\n{{#> optional}}none{{/optional}}\n"
          "{{#*inline \"local\"}}x{{/inline}}{{> local}}\n\n{{> missing-one}}\n")  # fmt: skip
    result = plue("prompt", "lint", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("fix.prompt.md:2:")
    assert lines[1] == (
        "prompts/parts.md:8: the partial 'missing-one' is not in prompts/ (as missing-one.md or missing-one.prompt.md);"
        " add it or fix the name"
    )
    assert lines[2].startswith("prompts/tools.md:2: unknown tool 'rm_rf'; the tools are: read_file, write_file,")
    assert lines[3] == "prompts/typo.md:3: unknown frontmatter field 'shema'; did you mean 'schema'?"
    assert lines[-1] == "4 problems in 5 prompt files"


def test_lint_of_a_clean_repository(tmp_path: Path) -> None:
    write(tmp_path / "prompts" / "review.md", REVIEW)
    result = plue("prompt", "lint", tmp_path, cwd=tmp_path.parent)
    assert (result.returncode, result.stdout) == (0, "1 prompt file checked, no problems\n"), result.stderr
