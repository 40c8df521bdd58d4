"""The tools as the Anthropic Messages API takes them: name, description, JSON Schema of the input.

The descriptions are written for the model: what the tool does, what it
refuses, and how to get more when an output is bounded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from plue.llm.tools.bounds import (
    GREP_DEFAULT_RESULTS,
    GREP_MAX_RESULTS,
    LIST_MAX_ENTRIES,
    PROCESS_HEAD_BYTES,
    PROCESS_TAIL_BYTES,
    READ_LINE_CHARS,
    READ_MAX_BYTES,
    READ_MAX_LINES,
)
from plue.llm.tools.git import subcommands
from plue.llm.tools.globs import MAX_PATTERN_CHARS
from plue.llm.tools.paths import MAX_PATH_CHARS
from plue.llm.tools.selection import ToolSelection

_PATHS = (
    "Paths are relative to the workspace (the run's working directory); paths outside it, also through symbolic "
    "links, are refused."
)


def _path(description: str) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": MAX_PATH_CHARS, "description": description}


def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


def _read_file() -> dict[str, Any]:
    return {
        "name": "read_file",
        "description": (
            "Read a text file in the workspace. A small file comes back as its exact text. A big one (more than "
            f"{READ_MAX_LINES:,} lines or {READ_MAX_BYTES // 1024} KiB), or any call with offset or limit, comes back "
            "as numbered lines ('     12<TAB>text'; the numbers are not part of the file) with a note saying how to "
            f"read on. Lines longer than {READ_LINE_CHARS:,} characters are cut. Binary files and directories are "
            f"refused (use list_files for directories). {_PATHS}"
        ),
        "input_schema": _object(
            {
                "path": _path("The file to read, e.g. 'src/app.py'."),
                "offset": {"type": "integer", "minimum": 1, "description": "The first line to show (1-based)."},
                "limit": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": READ_MAX_LINES,
                    "description": f"How many lines to show (at most {READ_MAX_LINES:,}).",
                },
            },
            ["path"],
        ),
    }


def _write_file() -> dict[str, Any]:
    return {
        "name": "write_file",
        "description": (
            "Create a file, or replace a file's whole content, in the workspace; missing parent directories are "
            "created. Prefer edit_file to change part of an existing file. Files under .git cannot be written. "
            f"{_PATHS}"
        ),
        "input_schema": _object(
            {
                "path": _path("The file to write, e.g. 'docs/notes.md'."),
                "content": {"type": "string", "description": "The complete new content of the file."},
            },
            ["path", "content"],
        ),
    }


def _edit_file() -> dict[str, Any]:
    return {
        "name": "edit_file",
        "description": (
            "Replace an exact piece of text in a UTF-8 text file. old_string must match the file exactly, "
            "whitespace, indentation and line breaks included (read the file first, without line numbers), and "
            "must occur exactly once unless replace_all is true; otherwise nothing is changed and the error says how "
            f"many times it was found. {_PATHS}"
        ),
        "input_schema": _object(
            {
                "path": _path("The file to edit."),
                "old_string": {"type": "string", "minLength": 1, "description": "The exact text to replace."},
                "new_string": {"type": "string", "description": "The text to put in its place."},
                "replace_all": {
                    "type": "boolean",
                    "description": "Replace every occurrence instead of exactly one (default false).",
                },
            },
            ["path", "old_string", "new_string"],
        ),
    }


def _list_files() -> dict[str, Any]:
    return {
        "name": "list_files",
        "description": (
            "List the files in the workspace whose paths match a glob pattern, sorted, as paths relative to the "
            "workspace. The pattern is matched against paths relative to `path`: '*' and '?' match within one "
            "directory level, '**' any number of levels, '[abc]' one of a set, '{a,b}' either; so '*.py' lists only "
            "the top level and '**/*.py' every depth. .git is skipped and symbolic links to directories are not "
            f"entered. At most {LIST_MAX_ENTRIES:,} paths are shown. {_PATHS}"
        ),
        "input_schema": _object(
            {
                "pattern": {
                    "type": "string",
                    "maxLength": MAX_PATTERN_CHARS,
                    "description": "A glob such as 'src/**/*.ts' (default '**': every file).",
                },
                "path": _path("The directory to list (default: the workspace)."),
            },
            [],
        ),
    }


def _grep() -> dict[str, Any]:
    return {
        "name": "grep",
        "description": (
            "Search the text files in the workspace for a Python regular expression (re syntax), line by line. "
            "Results are 'path:line: text', in path order. Binary files and .git are skipped. Stops at max_results "
            "matches or 64 KiB of results, and after 30 seconds (avoid nested repetition like '(a+)+'). "
            f"{_PATHS}"
        ),
        "input_schema": _object(
            {
                "pattern": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": MAX_PATTERN_CHARS,
                    "description": r"The regular expression, e.g. 'def \w+_test' or 'TODO|FIXME'.",
                },
                "path": _path("A directory to search under, or one file (default: the workspace)."),
                "glob": {
                    "type": "string",
                    "maxLength": MAX_PATTERN_CHARS,
                    "description": (
                        "Only files matching this glob: without '/' it matches file names at any depth ('*.py'), "
                        "with '/' paths relative to `path` ('src/**/*.py')."
                    ),
                },
                "ignore_case": {"type": "boolean", "description": "Match without regard to case (default false)."},
                "max_results": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": GREP_MAX_RESULTS,
                    "description": f"The most matching lines to return (default {GREP_DEFAULT_RESULTS}).",
                },
            },
            ["pattern"],
        ),
    }


def _bash(programs: frozenset[str] | None, timeout: float) -> dict[str, Any]:
    if programs is None:
        allowed = "Any command may be run, including pipes and redirections."
    else:
        allowed = (
            f"Only these programs may be run: {', '.join(sorted(programs))}; the command must be one simple command "
            "starting with one of them: no ;, &&, ||, |, redirections, backticks, $( ), ${ } or line breaks."
        )
    return {
        "name": "bash",
        "description": (
            "Run a command with bash -c in the workspace directory (non-interactive: stdin is empty). Returns "
            f"stdout and stderr together, then '[exit code N]'; of a long output the first {PROCESS_HEAD_BYTES // 1024}"
            f" KiB and last {PROCESS_TAIL_BYTES // 1024} KiB are kept. A nonzero exit code is an error. The command, "
            f"and everything it started, is killed after `timeout` seconds (default and most {timeout:g}); "
            f"background processes are stopped when the command ends. {allowed}"
        ),
        "input_schema": _object(
            {
                "command": {"type": "string", "minLength": 1, "description": "The command, e.g. 'pytest -x -q'."},
                "timeout": {
                    "type": "number",
                    "exclusiveMinimum": 0,
                    "maximum": timeout,
                    "description": f"Seconds before it is killed (default {timeout:g}).",
                },
            },
            ["command"],
        ),
    }


def _git(write: bool) -> dict[str, Any]:
    allowed = ", ".join(subcommands(write))
    writes = (
        "add and commit change the repository (commit needs -m MESSAGE)."
        if write
        else "It only reads: add and commit are not available."
    )
    return {
        "name": "git",
        "description": (
            f"Run git in the workspace's repository. args[0] is the subcommand, one of: {allowed}. {writes} Only "
            "common options are allowed, spelt out in full (e.g. --stat, --name-only, --cached, -n 5, --oneline, "
            "--format=..., -p); options that write files, run programs or reach outside the workspace (--output, "
            "--no-index, --ext-diff, -c, -C, --git-dir, ...) are refused, as are paths outside the workspace. Output "
            "is bounded like bash's; a nonzero exit code is an error."
        ),
        "input_schema": _object(
            {
                "args": {
                    "type": "array",
                    "items": {"type": "string"},
                    "minItems": 1,
                    "maxItems": 200,
                    "description": 'The arguments after \'git\', e.g. ["log", "--oneline", "-n", "10"].',
                }
            },
            ["args"],
        ),
    }


def tool_definitions(selection: ToolSelection, bash_timeout: float) -> list[dict[str, Any]]:
    """The definitions of the selected tools, in KNOWN_TOOLS order."""
    makers: dict[str, Callable[[], dict[str, Any]]] = {
        "read_file": _read_file,
        "write_file": _write_file,
        "edit_file": _edit_file,
        "list_files": _list_files,
        "grep": _grep,
        "bash": lambda: _bash(selection.bash_programs, bash_timeout),
        "git": lambda: _git(selection.git_write),
    }
    return [makers[name]() for name in selection.names]
