"""The LLM agent's tools with real files, real processes and real git repositories.

Confinement (paths leading out of the workspace) has its own file,
test_llm_tools_confinement.py. No sleeps as synchronisation: waits poll for a
condition, bounded by a deadline.
"""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from process_support import in_background, process_gone, wait_until

from plue.llm.tools import (
    DEFAULT_TOOLS,
    KNOWN_TOOLS,
    Toolbox,
    ToolOutcome,
    ToolSelection,
    ToolSpecError,
    parse_tool_specs,
)
from plue.llm.tools import search as search_module
from plue.llm.tools.bounds import GREP_MAX_RESULTS, LIST_MAX_ENTRIES, READ_MAX_BYTES, READ_MAX_LINES
from plue.llm.tools.git import git_env
from plue.llm.tools.inputs import check_input
from plue.llm.tools.paths import Workspace

ALL_TOOLS = [*KNOWN_TOOLS[:-1], "git:write"]
MB = 1024 * 1024

# --- helpers ----------------------------------------------------------------------


def tool_env(home: Path) -> dict[str, str]:
    """A small environment like the engine gives: PATH, HOME, and a git identity."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "GIT_AUTHOR_NAME": "Plue Test",
        "GIT_AUTHOR_EMAIL": "plue@example.com",
        "GIT_COMMITTER_NAME": "Plue Test",
        "GIT_COMMITTER_EMAIL": "plue@example.com",
    }


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text("def main():\n    print('hello')\n\n\nmain()\n")
    (root / "README.md").write_text("# Demo\n\nA demo project.\n")
    (tmp_path / "home").mkdir()
    return root


def make_toolbox(
    root: Path,
    specs: list[str] | None = ALL_TOOLS,
    *,
    cancelled: threading.Event | None = None,
    bash_timeout: float = 60.0,
) -> Toolbox:
    return Toolbox(
        root,
        parse_tool_specs(specs),
        env=tool_env(root.parent / "home"),
        cancelled=cancelled,
        bash_timeout=bash_timeout,
    )


def ok(outcome: ToolOutcome) -> str:
    assert not outcome.is_error, outcome.output
    return outcome.output


def error(outcome: ToolOutcome) -> str:
    assert outcome.is_error, outcome.output
    return outcome.output


def git(root: Path, *args: str) -> str:
    env = {**tool_env(root.parent / "home"), "GIT_CONFIG_NOSYSTEM": "1"}
    return subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(workspace: Path) -> Path:
    git(workspace, "init", "-q", "-b", "main")
    git(workspace, "add", "-A")
    git(workspace, "commit", "-q", "-m", "first commit")
    return workspace


# --- tool specs ---------------------------------------------------------------------


def test_no_specs_give_the_read_only_defaults() -> None:
    selection = parse_tool_specs(None)
    assert selection.names == DEFAULT_TOOLS == ("read_file", "list_files", "grep", "git")
    assert not selection.git_write


def test_an_empty_list_gives_no_tools(workspace: Path) -> None:
    toolbox = make_toolbox(workspace, [])
    assert toolbox.definitions() == []
    assert "not available" in error(toolbox.run("read_file", {"path": "README.md"}))


def test_specs_are_ordered_and_combine_as_a_union() -> None:
    selection = parse_tool_specs(["git", "bash:pytest", "read_file", "bash:ruff,ls", "git:write", "read_file"])
    assert selection.names == ("read_file", "bash", "git")
    assert selection.bash_programs == frozenset({"pytest", "ruff", "ls"})
    assert selection.git_write
    assert parse_tool_specs(["bash:ls", "bash"]).bash_programs is None  # plain bash: any command
    assert parse_tool_specs(["bash"]).bash_programs is None
    assert parse_tool_specs(selection.specs) == selection
    assert "bash" in selection and "grep" not in selection


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("rm", "unknown tool 'rm'"),
        ("Read_File", "unknown tool 'Read_File'"),
        ("read_file:x", "read_file takes no option 'x'"),
        ("git:read", "git takes no option 'read'"),
        ("bash:", "names no programs"),
        ("bash:,", "names no programs"),
        ("bash:/bin/rm", "is not a program name"),
        ("bash:ls;rm", "is not a program name"),
        ("", "unknown tool ''"),
    ],
)
def test_bad_specs_are_named_and_the_valid_ones_listed(spec: str, expected: str) -> None:
    with pytest.raises(ToolSpecError) as raised:
        parse_tool_specs([spec])
    message = str(raised.value)
    assert expected in message
    if "unknown tool" in expected:
        assert "the tools are: read_file, write_file, edit_file, list_files, grep, bash, git" in message


@pytest.mark.parametrize("specs", ["read_file", [42], [None]])
def test_specs_of_the_wrong_type_are_refused(specs: Any) -> None:
    with pytest.raises(ToolSpecError):
        parse_tool_specs(specs)


# --- definitions ---------------------------------------------------------------------


def test_definitions_are_valid_json_schemas_in_known_order(workspace: Path) -> None:
    definitions = make_toolbox(workspace).definitions()
    assert [definition["name"] for definition in definitions] == list(KNOWN_TOOLS)
    for definition in definitions:
        assert set(definition) == {"name", "description", "input_schema"}
        assert len(definition["description"]) > 80
        schema = definition["input_schema"]
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["type"] == "object" and schema["additionalProperties"] is False
        assert set(schema["required"]) <= set(schema["properties"])
        for field in schema["properties"].values():
            assert field.get("description")


def test_definitions_follow_the_selection(workspace: Path) -> None:
    definitions = make_toolbox(workspace, ["git", "bash:pytest,ruff", "read_file"]).definitions()
    assert [definition["name"] for definition in definitions] == ["read_file", "bash", "git"]
    bash, git_tool = definitions[1]["description"], definitions[2]["description"]
    assert "pytest, ruff" in bash
    assert "add and commit are not available" in git_tool
    assert "status, diff, log, show, add, commit" in make_toolbox(workspace).definitions()[-1]["description"]
    assert definitions[1]["input_schema"]["properties"]["timeout"]["maximum"] == 60.0


SAMPLE_INPUTS: list[tuple[str, object]] = [
    ("read_file", {"path": "a"}),
    ("read_file", {"path": "a", "offset": 3, "limit": 10}),
    ("read_file", {"path": "a", "offset": 0}),
    ("read_file", {"path": "a", "limit": READ_MAX_LINES + 1}),
    ("read_file", {"path": "a", "offset": "3"}),
    ("read_file", {"path": "a", "offset": True}),
    ("read_file", {"path": ""}),
    ("read_file", {"path": 3}),
    ("read_file", {}),
    ("read_file", {"path": "a", "extra": 1}),
    ("read_file", ["a"]),
    ("read_file", None),
    ("write_file", {"path": "a", "content": ""}),
    ("write_file", {"path": "a"}),
    ("write_file", {"path": "a", "content": None}),
    ("edit_file", {"path": "a", "old_string": "x", "new_string": "y", "replace_all": True}),
    ("edit_file", {"path": "a", "old_string": "", "new_string": "y"}),
    ("edit_file", {"path": "a", "old_string": "x", "new_string": "y", "replace_all": "yes"}),
    ("list_files", {}),
    ("list_files", {"pattern": "**/*.py", "path": "src"}),
    ("list_files", {"pattern": 5}),
    ("grep", {"pattern": "x", "max_results": GREP_MAX_RESULTS}),
    ("grep", {"pattern": "x", "max_results": GREP_MAX_RESULTS + 1}),
    ("grep", {"pattern": "x", "ignore_case": 1}),
    ("bash", {"command": "ls", "timeout": 1.5}),
    ("bash", {"command": "ls", "timeout": 0}),
    ("bash", {"command": "ls", "timeout": 61}),
    ("bash", {"command": "ls", "timeout": float("nan")}),
    ("git", {"args": ["status"]}),
    ("git", {"args": []}),
    ("git", {"args": ["log", 5]}),
    ("git", {"args": "status"}),
]


@pytest.mark.parametrize(("tool", "value"), SAMPLE_INPUTS)
def test_input_checks_agree_with_json_schema(workspace: Path, tool: str, value: object) -> None:
    schemas = {definition["name"]: definition["input_schema"] for definition in make_toolbox(workspace).definitions()}
    valid = jsonschema.Draft202012Validator(schemas[tool]).is_valid(value)
    if isinstance(value, dict) and any(isinstance(item, float) and item != item for item in value.values()):
        valid = False  # NaN: JSON has no such number; jsonschema compares it as any other float
    problem = check_input(tool, schemas[tool], value)
    assert (problem is None) == valid, problem
    if problem:
        assert problem.startswith(f"{tool}: ")


def test_input_errors_say_what_is_wrong(workspace: Path) -> None:
    toolbox = make_toolbox(workspace)
    assert "the field 'path' is required" in error(toolbox.run("read_file", {}))
    assert "unknown field 'extra' (the fields are path, offset?, limit?)" in error(
        toolbox.run("read_file", {"path": "README.md", "extra": 1})
    )
    assert "'path' must be a string, not an integer" in error(toolbox.run("read_file", {"path": 7}))
    assert "'offset' must be an integer, not a boolean" in error(
        toolbox.run("read_file", {"path": "README.md", "offset": True})
    )
    assert "must be an object" in error(toolbox.run("write_file", "README.md"))
    assert "unknown tool 'nope'" in error(toolbox.run("nope", {}))


@pytest.mark.parametrize(
    "value",
    [None, 0, "x", [], [{}], {"path": {"a": [1, 2]}}, {"path": "\ud800"}, {"path": "x" * 1_000_000}, {1: 2}],
)
def test_run_never_raises_for_anything_the_model_sends(workspace: Path, value: object) -> None:
    toolbox = make_toolbox(workspace)
    for name in [*KNOWN_TOOLS, "", "../read_file"]:
        outcome = toolbox.run(name, value)
        assert isinstance(outcome, ToolOutcome) and outcome.is_error
        assert outcome.output and "Traceback" not in outcome.output


# --- read_file ---------------------------------------------------------------------------


def test_read_file_returns_a_small_file_exactly(workspace: Path) -> None:
    text = "line one\r\n\ttabbed\nno newline at the end"
    (workspace / "notes.txt").write_text(text, newline="")
    assert ok(make_toolbox(workspace).run("read_file", {"path": "notes.txt"})) == text


def test_read_file_with_offset_and_limit_numbers_the_lines(workspace: Path) -> None:
    (workspace / "n.txt").write_text("".join(f"line {i}\n" for i in range(1, 101)))
    output = ok(make_toolbox(workspace).run("read_file", {"path": "n.txt", "offset": 10, "limit": 3}))
    lines = output.splitlines()
    assert lines[:3] == ["    10\tline 10", "    11\tline 11", "    12\tline 12"]
    assert "lines 10–12 of 100" in lines[3] and "offset=13" in lines[3]
    last = ok(make_toolbox(workspace).run("read_file", {"path": "n.txt", "offset": 99}))
    assert last.splitlines()[:2] == ["    99\tline 99", "   100\tline 100"]
    assert "more follows" not in last


def test_read_file_bounds_a_10_mb_file_and_says_how_to_read_on(workspace: Path) -> None:
    line = "x" * 99 + "\n"
    (workspace / "big.txt").write_text(line * (10 * MB // 100))
    toolbox = make_toolbox(workspace)
    output = ok(toolbox.run("read_file", {"path": "big.txt"}))
    assert len(output.encode()) <= READ_MAX_BYTES + 1000
    body, footer = output.rsplit("\n", 1)
    assert body.startswith("     1\t" + "x" * 99)
    assert "of 104,857" in footer and "call read_file with offset=" in footer
    next_offset = int(footer.split("offset=")[1].split(" ")[0].rstrip("]"))
    assert next_offset == len(body.splitlines()) + 1
    tail = ok(toolbox.run("read_file", {"path": "big.txt", "offset": 104_857}))
    assert tail.splitlines()[0] == "104857\t" + "x" * 99
    assert "more follows" not in tail


def test_read_file_bounds_bytes_as_well_as_lines(workspace: Path) -> None:
    (workspace / "wide.txt").write_text(("é" * 1500 + "\n") * 2000)
    output = ok(make_toolbox(workspace).run("read_file", {"path": "wide.txt"}))
    assert len(output.encode()) <= READ_MAX_BYTES + 1000
    body, footer = output.rsplit("\n", 1)
    shown = len(body.splitlines())
    assert 50 < shown < 2000
    assert f"lines 1–{shown} of 2,000" in footer
    assert f"(256 KiB per call): call read_file with offset={shown + 1}" in footer


def test_read_file_cuts_very_long_lines(workspace: Path) -> None:
    (workspace / "min.js").write_text("a" * 3 * MB + "\nshort\n")
    output = ok(make_toolbox(workspace).run("read_file", {"path": "min.js"}))
    lines = output.splitlines()
    assert lines[0].startswith("     1\taaa") and lines[0].endswith("[line cut]") and len(lines[0]) < 2100
    assert lines[1] == "     2\tshort"
    assert "are cut" in lines[2]


@pytest.mark.parametrize(
    ("setup", "path", "expected"),
    [
        (lambda ws: (ws / "blob.bin").write_bytes(b"\x89PNG\0\0\x01"), "blob.bin", "is a binary file"),
        (lambda ws: None, "src", "is a directory"),
        (lambda ws: None, "missing.txt", "does not exist"),
        (lambda ws: None, "README.md/x", "is not a directory"),
        (lambda ws: os.mkfifo(ws / "pipe"), "pipe", "is not a regular file"),
    ],
)
def test_read_file_refuses_what_is_not_a_text_file(workspace: Path, setup: Any, path: str, expected: str) -> None:
    setup(workspace)
    assert expected in error(make_toolbox(workspace).run("read_file", {"path": path}))


def test_read_file_of_an_empty_file_and_past_the_end(workspace: Path) -> None:
    (workspace / "empty.txt").write_text("")
    toolbox = make_toolbox(workspace)
    assert "is empty" in ok(toolbox.run("read_file", {"path": "empty.txt"}))
    assert "offset 50 is past the end of 'README.md', which has 3 line(s)" in error(
        toolbox.run("read_file", {"path": "README.md", "offset": 50})
    )


# --- write_file and edit_file ----------------------------------------------------------------


def test_write_file_creates_parents_and_overwrites(workspace: Path) -> None:
    toolbox = make_toolbox(workspace)
    assert ok(toolbox.run("write_file", {"path": "docs/guide/intro.md", "content": "# Intro\nText\n"})) == (
        "created docs/guide/intro.md (13 bytes, 2 lines)"
    )
    assert (workspace / "docs/guide/intro.md").read_text() == "# Intro\nText\n"
    assert ok(toolbox.run("write_file", {"path": "docs/guide/intro.md", "content": "é"})).startswith(
        "overwrote docs/guide/intro.md (2 bytes, 1 line)"
    )
    assert (workspace / "docs/guide/intro.md").read_text() == "é"


def test_write_file_keeps_the_mode_of_an_existing_file(workspace: Path) -> None:
    script = workspace / "run.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    ok(make_toolbox(workspace).run("write_file", {"path": "run.sh", "content": "#!/bin/sh\necho hi\n"}))
    assert script.stat().st_mode & 0o777 == 0o755


@pytest.mark.parametrize(
    ("path", "expected"),
    [("src", "is a directory"), (".", "is a directory"), ("README.md/x", "is not a directory")],
)
def test_write_file_refuses_what_it_cannot_write(workspace: Path, path: str, expected: str) -> None:
    assert expected in error(make_toolbox(workspace).run("write_file", {"path": path, "content": "x"}))
    assert (workspace / "README.md").read_text().startswith("# Demo")


def test_edit_file_replaces_one_exact_occurrence(workspace: Path) -> None:
    toolbox = make_toolbox(workspace)
    path = workspace / "src" / "app.py"
    assert ok(toolbox.run("edit_file", {"path": "src/app.py", "old_string": "'hello'", "new_string": "'bye'"})) == (
        "replaced 1 occurrence in src/app.py"
    )
    assert path.read_text() == "def main():\n    print('bye')\n\n\nmain()\n"


def test_edit_file_counts_and_refuses_ambiguous_or_missing_text(workspace: Path) -> None:
    toolbox = make_toolbox(workspace)
    path = workspace / "src" / "app.py"
    before = path.read_text()
    message = error(toolbox.run("edit_file", {"path": "src/app.py", "old_string": "main", "new_string": "run"}))
    assert "occurs 2 times" in message and "replace_all" in message
    message = error(toolbox.run("edit_file", {"path": "src/app.py", "old_string": "nothing", "new_string": "x"}))
    assert "was not found in src/app.py" in message
    message = error(toolbox.run("edit_file", {"path": "src/app.py", "old_string": "main", "new_string": "main"}))
    assert "the same" in message
    assert path.read_text() == before
    args = {"path": "src/app.py", "old_string": "main", "new_string": "run", "replace_all": True}
    assert ok(toolbox.run("edit_file", args)) == "replaced 2 occurrences in src/app.py"
    assert path.read_text() == before.replace("main", "run")


def test_edit_file_keeps_line_endings_and_shrinks_files(workspace: Path) -> None:
    path = workspace / "crlf.txt"
    path.write_bytes(b"one\r\ntwo two two\r\nthree\r\n")
    ok(make_toolbox(workspace).run("edit_file", {"path": "crlf.txt", "old_string": "two two two", "new_string": "2"}))
    assert path.read_bytes() == b"one\r\n2\r\nthree\r\n"


def test_edit_file_refuses_binary_and_non_utf8_files(workspace: Path) -> None:
    (workspace / "latin1.txt").write_bytes("café".encode("latin-1"))
    (workspace / "blob.bin").write_bytes(b"a\0b")
    toolbox = make_toolbox(workspace)
    latin1 = {"path": "latin1.txt", "old_string": "caf", "new_string": "x"}
    assert "not UTF-8" in error(toolbox.run("edit_file", latin1))
    assert "binary" in error(toolbox.run("edit_file", {"path": "blob.bin", "old_string": "a", "new_string": "x"}))
    assert "does not exist" in error(toolbox.run("edit_file", {"path": "nope", "old_string": "a", "new_string": "x"}))


# --- list_files ---------------------------------------------------------------------------


def test_list_files_globs_sorted_and_skips_git(workspace: Path) -> None:
    for name in ["src/pkg/mod.py", "src/pkg/data.json", "tests/test_app.py", ".github/ci.yml", ".git/config"]:
        (workspace / name).parent.mkdir(parents=True, exist_ok=True)
        (workspace / name).write_text("x\n")
    toolbox = make_toolbox(workspace)
    assert ok(toolbox.run("list_files", {})).splitlines() == [
        ".github/ci.yml",
        "README.md",
        "src/app.py",
        "src/pkg/data.json",
        "src/pkg/mod.py",
        "tests/test_app.py",
    ]
    assert ok(toolbox.run("list_files", {"pattern": "**/*.py"})).splitlines() == [
        "src/app.py",
        "src/pkg/mod.py",
        "tests/test_app.py",
    ]
    assert ok(toolbox.run("list_files", {"pattern": "*.md"})) == "README.md"
    assert ok(toolbox.run("list_files", {"pattern": "*.py", "path": "src"})) == "src/app.py"
    assert ok(toolbox.run("list_files", {"pattern": "**/*.{json,yml}"})).splitlines() == [
        ".github/ci.yml",
        "src/pkg/data.json",
    ]
    assert ok(toolbox.run("list_files", {"pattern": "src/[!a]*/m?d.py"})) == "src/pkg/mod.py"
    assert "no files match '*.rs'" in ok(toolbox.run("list_files", {"pattern": "*.rs"}))
    assert "is not a directory" in error(toolbox.run("list_files", {"path": "README.md"}))


def test_list_files_is_bounded(workspace: Path) -> None:
    many = workspace / "many"
    many.mkdir()
    for index in range(LIST_MAX_ENTRIES + 234):
        (many / f"f{index:05}.txt").write_text("")
    lines = ok(make_toolbox(workspace).run("list_files", {"path": "many"})).splitlines()
    assert len(lines) == LIST_MAX_ENTRIES + 1
    assert lines[0] == "many/f00000.txt"
    assert lines[-1] == "… 234 more (narrow the pattern or the path)"


# --- grep -------------------------------------------------------------------------------------


def test_grep_finds_lines_with_paths_and_numbers(workspace: Path) -> None:
    (workspace / "src" / "util.py").write_text("import os\n\ndef helper():\n    return os.getcwd()\n")
    (workspace / "blob.bin").write_bytes(b"def main\0")
    (workspace / ".git").mkdir()
    (workspace / ".git" / "notes").write_text("def main\n")
    toolbox = make_toolbox(workspace)
    assert ok(toolbox.run("grep", {"pattern": r"^def \w+"})).splitlines() == [
        "src/app.py:1: def main():",
        "src/util.py:3: def helper():",
    ]
    assert ok(toolbox.run("grep", {"pattern": "DEMO", "ignore_case": True})).splitlines() == [
        "README.md:1: # Demo",
        "README.md:3: A demo project.",
    ]
    assert ok(toolbox.run("grep", {"pattern": "os", "glob": "*.py", "path": "src"})).splitlines() == [
        "src/util.py:1: import os",
        "src/util.py:4:     return os.getcwd()",
    ]
    assert ok(toolbox.run("grep", {"pattern": "main", "path": "src/app.py"})).splitlines() == [
        "src/app.py:1: def main():",
        "src/app.py:5: main()",
    ]
    assert "no matches for 'zebra'" in ok(toolbox.run("grep", {"pattern": "zebra"}))


def test_grep_refuses_an_invalid_regex_and_missing_paths(workspace: Path) -> None:
    toolbox = make_toolbox(workspace)
    assert "invalid regular expression '(unclosed'" in error(toolbox.run("grep", {"pattern": "(unclosed"}))
    assert "does not exist" in error(toolbox.run("grep", {"pattern": "x", "path": "nope"}))
    assert "must be relative" in error(toolbox.run("grep", {"pattern": "x", "glob": "/etc/*"}))


def test_grep_bounds_100k_matches(workspace: Path) -> None:
    (workspace / "many.txt").write_text("match here\n" * 100_000)
    toolbox = make_toolbox(workspace)
    lines = ok(toolbox.run("grep", {"pattern": "match"})).splitlines()
    assert len(lines) == 101
    assert lines[0] == "many.txt:1: match here" and lines[99] == "many.txt:100: match here"
    assert "stopped at 100 matches" in lines[-1]
    lines = ok(toolbox.run("grep", {"pattern": "match", "max_results": GREP_MAX_RESULTS})).splitlines()
    assert len(lines) == GREP_MAX_RESULTS + 1


def test_grep_bounds_bytes_and_cuts_long_lines(workspace: Path) -> None:
    (workspace / "wide.txt").write_text(("y" * 5000 + "\n") * 1000)
    output = ok(make_toolbox(workspace).run("grep", {"pattern": "y", "max_results": 1000}))
    assert len(output.encode()) < 70 * 1024
    assert "more characters]" in output.splitlines()[0]
    assert "stopped at 64 KiB of results" in output


def test_grep_stops_a_catastrophic_pattern_and_keeps_what_it_found(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search_module, "GREP_SECONDS", 2.0)
    (workspace / "a_first.txt").write_text("aaaa\n")
    (workspace / "b_bomb.txt").write_text("a" * 60 + "!\n")
    output = error(make_toolbox(workspace).run("grep", {"pattern": "^(a+)+$"}))
    assert output.startswith("a_first.txt:1: aaaa\n")
    assert "grep stopped after 2 s" in output and "backtrack" in output


# --- bash -------------------------------------------------------------------------------------


def test_bash_runs_in_the_workspace_with_the_given_env(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLUE_TEST_NOT_PASSED", "leaked")
    command = 'pwd; echo "home=$HOME"; echo "x=${PLUE_TEST_NOT_PASSED:-unset}"; cat; echo err >&2'
    output = ok(make_toolbox(workspace).run("bash", {"command": command}))
    assert output.splitlines() == [
        str(workspace),
        f"home={workspace.parent / 'home'}",
        "x=unset",  # only the given env, not plue's
        "err",  # stderr too; cat read nothing: stdin is empty
        "[exit code 0]",
    ]


def test_bash_reports_a_nonzero_exit_as_an_error(workspace: Path) -> None:
    toolbox = make_toolbox(workspace)
    assert error(toolbox.run("bash", {"command": "echo failing; exit 3"})) == "failing\n[exit code 3]"
    assert error(toolbox.run("bash", {"command": "kill -9 $$"})) == "(no output)\n[killed by SIGKILL]"


def test_bash_bounds_10_mb_of_output_keeping_head_and_tail(workspace: Path) -> None:
    command = "echo FIRST; head -c 10000000 /dev/zero | tr '\\0' 'z'; echo; echo LAST"
    output = ok(make_toolbox(workspace).run("bash", {"command": command}))
    assert len(output.encode()) < 70 * 1024
    assert output.startswith("FIRST\nzzz")
    assert output.endswith("zzz\nLAST\n[exit code 0]")
    assert "bytes of output cut" in output


def test_bash_timeout_kills_the_command_and_its_background_children(workspace: Path) -> None:
    command = "sleep 300 & echo $! > bg.pid; sleep 300"
    output = error(make_toolbox(workspace).run("bash", {"command": command, "timeout": 0.5}))
    assert "timed out after 0.5 s" in output
    pid = int((workspace / "bg.pid").read_text())
    wait_until(lambda: process_gone(pid), "the background sleep to be killed")


def test_bash_background_processes_end_with_the_command(workspace: Path) -> None:
    output = ok(make_toolbox(workspace).run("bash", {"command": "sleep 300 & echo $!"}))
    pid = int(output.splitlines()[0])
    wait_until(lambda: process_gone(pid), "the background sleep to be killed")


def test_bash_timeout_is_capped_by_the_toolbox(workspace: Path) -> None:
    toolbox = make_toolbox(workspace, bash_timeout=0.5)
    assert "must be at most 0.5" in error(toolbox.run("bash", {"command": "true", "timeout": 5}))
    assert "timed out after 0.5 s" in error(toolbox.run("bash", {"command": "sleep 300"}))


def test_cancel_kills_a_running_command(workspace: Path) -> None:
    cancelled = threading.Event()
    toolbox = make_toolbox(workspace, cancelled=cancelled)
    command = "sleep 300 & echo $! $$ > pids.tmp; mv pids.tmp pids; wait"
    with in_background(lambda: toolbox.run("bash", {"command": command}), cancelled.set) as result:
        wait_until((workspace / "pids").exists, "the command to start")
        cancelled.set()
    assert "cancelled" in error(result[0])
    for pid in map(int, (workspace / "pids").read_text().split()):
        wait_until(lambda pid=pid: process_gone(pid), f"process {pid} to be killed")  # type: ignore[misc]
    assert "cancelled" in error(toolbox.run("read_file", {"path": "README.md"}))


@pytest.mark.parametrize(
    "command",
    [
        "rm -rf src",
        "ls; touch pwned",
        "ls && touch pwned",
        "ls || touch pwned",
        "ls | tee pwned",
        "ls > pwned",
        "ls >> pwned",
        "cat < README.md",
        "ls $(touch pwned)",
        "ls `touch pwned`",
        'ls "$(touch pwned)"',
        "ls ${x:=$(touch pwned)}",
        "ls\ntouch pwned",
        "ls & touch pwned",
        "(touch pwned)",
        "FOO=1 touch pwned",
        "ls foo#bar; touch pwned",
        "'touch' pwned",
        "/usr/bin/touch pwned",
        'ls "unterminated',
        "",
        "   ",
    ],
)
def test_bash_allowlist_refusals(workspace: Path, command: str) -> None:
    output = error(make_toolbox(workspace, ["bash:ls,cat"]).run("bash", {"command": command}))
    assert "cat, ls" in output or "empty" in output
    assert not (workspace / "pwned").exists()
    assert (workspace / "src" / "app.py").exists()


def test_bash_allowlist_runs_allowed_programs(workspace: Path) -> None:
    toolbox = make_toolbox(workspace, ["bash:ls,cat"])
    assert ok(toolbox.run("bash", {"command": "ls src"})) == "app.py\n[exit code 0]"
    assert ok(toolbox.run("bash", {"command": "cat 'README.md'"})).startswith("# Demo")
    quoted = error(toolbox.run("bash", {"command": 'ls "no|such"'}))  # a quoted operator is an argument
    assert "no|such" in quoted and "[exit code 2]" in quoted


# --- git ---------------------------------------------------------------------------------------


def test_git_reads_the_repository(repo: Path) -> None:
    toolbox = make_toolbox(repo, ["git"])
    (repo / "README.md").write_text("# Demo\n\nChanged.\n")
    assert "M README.md" in ok(toolbox.run("git", {"args": ["status", "--short"]}))
    diff = ok(toolbox.run("git", {"args": ["diff", "--stat"]}))
    assert "README.md" in diff and "[exit code 0]" in diff
    assert "+Changed." in ok(toolbox.run("git", {"args": ["diff", "-U1", "--", "README.md"]}))
    log = ok(toolbox.run("git", {"args": ["log", "--oneline", "-n", "5"]}))
    assert "first commit" in log
    assert "first commit" in ok(toolbox.run("git", {"args": ["log", "-1", "--format=%s"]}))
    assert "print('hello')" in ok(toolbox.run("git", {"args": ["show", "HEAD:src/app.py"]}))
    assert "fatal" in error(toolbox.run("git", {"args": ["show", "no-such-ref"]}))


def test_git_write_is_refused_without_git_write(repo: Path) -> None:
    (repo / "new.txt").write_text("new\n")
    toolbox = make_toolbox(repo, ["git"])
    for args in (["add", "new.txt"], ["commit", "-m", "x"]):
        assert "'git:write'" in error(toolbox.run("git", {"args": args}))
    assert "?? new.txt" in git(repo, "status", "--short")


def test_git_write_adds_and_commits(repo: Path) -> None:
    (repo / "new.txt").write_text("new\n")
    toolbox = make_toolbox(repo, ["git:write"])
    ok(toolbox.run("git", {"args": ["add", "new.txt"]}))
    ok(toolbox.run("git", {"args": ["commit", "-m", "add new.txt"]}))
    assert git(repo, "log", "--format=%s").splitlines() == ["add new.txt", "first commit"]
    # Without -m git would open an editor: it fails instead of waiting.
    (repo / "other.txt").write_text("x\n")
    ok(toolbox.run("git", {"args": ["add", "-A"]}))
    assert "[exit code" in error(toolbox.run("git", {"args": ["commit"]}))


@pytest.mark.parametrize(
    "args",
    [
        ["push"],
        ["config", "core.pager", "evil"],
        ["-c", "core.pager=evil", "log"],
        ["-C", "/", "status"],
        ["--git-dir=/tmp", "status"],
        ["diff", "--output=pwned"],
        ["diff", "--output", "pwned"],
        ["log", "-p", "--out=pwned"],
        ["log", "-opwned"],
        ["diff", "--ext-diff"],
        ["show", "--textconv"],
        ["diff", "--no-index", "README.md", "src/app.py"],
        ["log", "--exec=touch pwned"],
        ["log", "--upload-pack=touch pwned"],
        ["log", "--work-tree=/"],
        ["log", "--show-signature"],
        ["commit", "-F", "README.md"],
        ["status", "--porcelain", "-c", "x"],
        ["log", "-n"],
        ["log", "--format"],
        ["status", "--short=1"],
    ],
)
def test_git_refuses_subcommands_and_options_outside_the_allowlist(repo: Path, args: list[str]) -> None:
    output = error(make_toolbox(repo, ["git:write"]).run("git", {"args": args}))
    assert "not allowed" in output or "needs a value" in output or "takes no value" in output
    assert not (repo / "pwned").exists()


def test_git_runs_without_system_config_prompts_pager_or_another_repository(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path)
    env = git_env({"PATH": "/bin", "GIT_DIR": "/elsewhere/.git", "GIT_WORK_TREE": "/", "KEEP": "1"}, workspace)
    assert env["GIT_CONFIG_NOSYSTEM"] == "1" and env["GIT_TERMINAL_PROMPT"] == "0"
    assert env["GIT_PAGER"] == env["PAGER"] == "cat"
    assert env["GIT_CEILING_DIRECTORIES"] == str(tmp_path.resolve().parent)
    assert "GIT_DIR" not in env and "GIT_WORK_TREE" not in env and env["KEEP"] == "1"


def test_git_does_not_use_a_repository_above_the_workspace(tmp_path: Path) -> None:
    outer = tmp_path / "outer"
    workspace = outer / "ws"
    workspace.mkdir(parents=True)
    (tmp_path / "home").mkdir()
    (workspace / "f.txt").write_text("x\n")
    git(outer, "init", "-q")
    git(outer, "add", "-A")
    git(outer, "commit", "-q", "-m", "outer secret commit")
    toolbox = Toolbox(workspace, parse_tool_specs(["git"]), env=tool_env(tmp_path / "home"))
    output = error(toolbox.run("git", {"args": ["log"]}))
    assert "not a git repository" in output and "outer secret commit" not in output


def test_toolbox_reports_selection(workspace: Path) -> None:
    selection = parse_tool_specs(["read_file"])
    assert isinstance(selection, ToolSelection)
    toolbox = make_toolbox(workspace, ["read_file"])
    message = error(toolbox.run("bash", {"command": "true"}))
    assert message == "the tool bash is not available in this step; the tools available here are: read_file"
