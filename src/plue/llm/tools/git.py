"""The git tool: a few git subcommands in the workspace, with options from an allowlist.

Read-only: ``status``, ``diff``, ``log``, ``show``; with ``git:write`` also
``add`` and ``commit``. Every option must be one listed here for its
subcommand, spelt out exactly as here (git also accepts unambiguous
abbreviations, ``--out=`` for ``--output=``, which a list of forbidden options
would miss). Not listed, on purpose:

- options that write files or run programs: ``--output``/``-o``, ``--ext-diff``
  and ``--textconv`` (external programs from configuration),
  ``--show-signature`` (runs gpg), ``commit -F``/``-C``/``-c`` (read a file or
  another commit's message), ``--exec``, ``--upload-pack``;
- options that point git elsewhere: ``-C``, ``-c``, ``--git-dir``,
  ``--work-tree``, ``--no-index`` (compares any two files on the machine) —
  global options cannot appear at all, since the first argument must be the
  subcommand.

Positional arguments (revisions and paths) may not be absolute, start with
``~``, contain a ``..`` segment, or name a path that leads out of the
workspace through a symbolic link: ``git diff`` with a path outside the work
tree silently turns into ``--no-index`` and reads that file.

The environment: no system config, no terminal prompts, no pager, no editor
(``commit`` needs ``-m``), no lazy fetches, and a ceiling directory so git
never uses a repository above the workspace. Variables that would point git at
another repository or index (``GIT_DIR``…) are dropped.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from enum import Enum
from typing import Final

from plue.llm.tools.outcome import ToolError, ToolOutcome
from plue.llm.tools.paths import PathRefused, Workspace
from plue.llm.tools.process import run_bounded
from plue.llm.tools.shell import report

READ_SUBCOMMANDS: Final = ("status", "diff", "log", "show")
WRITE_SUBCOMMANDS: Final = ("add", "commit")


class Kind(Enum):
    FLAG = "flag"  # no value
    VALUE = "value"  # --x=V or --x V (short: -xV or -x V)
    ATTACHED = "attached"  # --x=V only
    OPTIONAL = "optional"  # --x or --x=V (short: -x or -xV)


def _table(*, flags: str = "", values: str = "", attached: str = "", optional: str = "") -> dict[str, Kind]:
    table: dict[str, Kind] = {}
    for kind, names in ((Kind.FLAG, flags), (Kind.VALUE, values), (Kind.ATTACHED, attached), (Kind.OPTIONAL, optional)):
        table.update(dict.fromkeys(names.split(), kind))
    return table


_DIFF: Final = _table(
    flags="-p --patch --no-patch --shortstat --numstat --name-only --name-status --summary --raw --compact-summary "
    "-w --ignore-all-space -b --ignore-space-change --ignore-blank-lines --ignore-space-at-eol --ignore-cr-at-eol "
    "--no-color --no-ext-diff --no-textconv -R --no-renames --full-index --no-relative --minimal --patience "
    "--histogram -W --function-context -z",
    optional="--stat --dirstat --word-diff --find-renames -M --find-copies --abbrev --relative",
    values="--diff-filter -U --unified",
)
_REVISIONS: Final = _table(
    flags="--oneline --graph --no-decorate --abbrev-commit --no-abbrev-commit --reverse -i --regexp-ignore-case "
    "--all-match --invert-grep -E --extended-regexp -F --fixed-strings --pickaxe-regex --pickaxe-all --follow "
    "--first-parent --merges --no-merges --all --left-right --cherry-pick --topo-order --date-order "
    "--author-date-order --boundary --ancestry-path --source --full-history --simplify-merges "
    "--simplify-by-decoration --parents --children --do-walk -m --cc --use-mailmap --mailmap -g --walk-reflogs -s",
    optional="--pretty --decorate --branches --tags --remotes --no-walk",
    attached="--format --diff-merges --max-parents --min-parents",
    values="--date -n --max-count --skip --since --after --until --before --author --committer --grep -S -G",
)
OPTIONS: Final[dict[str, dict[str, Kind]]] = {
    "status": _table(
        flags="-s --short -b --branch --long -v --verbose --show-stash --ahead-behind --no-ahead-behind --renames "
        "--no-renames -z --null",
        optional="--porcelain -u --untracked-files --ignored --ignore-submodules --find-renames",
    ),
    "diff": {**_DIFF, **_table(flags="--cached --staged --merge-base --exit-code --quiet --check")},
    "log": {**_DIFF, **_REVISIONS},
    "show": {**_DIFF, **_REVISIONS},
    "add": _table(
        flags="-A --all -u --update -N --intent-to-add -v --verbose -n --dry-run --no-all --ignore-removal -f --force "
        "--ignore-errors --renormalize",
        attached="--chmod",
    ),
    "commit": _table(
        flags="-a --all --amend --no-edit --allow-empty --allow-empty-message -q --quiet -s --signoff --no-verify -n "
        "--dry-run --short --porcelain --reset-author -i --include --no-gpg-sign -v --verbose",
        values="-m --message --author --date --fixup --squash --cleanup --trailer",
    ),
}

# Variables that would make git use another repository, index or object store than the workspace's.
_DROPPED_ENV: Final = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_COMMON_DIR",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_NAMESPACE",
    "GIT_CONFIG",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
)
_CONFIG: Final = ("color.ui=never", "core.quotePath=false", "core.fsmonitor=false", "core.pager=cat")


def subcommands(write: bool) -> tuple[str, ...]:
    return READ_SUBCOMMANDS + WRITE_SUBCOMMANDS if write else READ_SUBCOMMANDS


def check_args(args: Sequence[str], *, write: bool, workspace: Workspace) -> None:
    """Refuse `args` unless they are an allowed subcommand with allowed options and confined paths."""
    allowed = subcommands(write)
    for arg in args:
        if "\0" in arg:
            raise ToolError("git arguments must not contain NUL bytes")
    subcommand = args[0]
    if subcommand not in allowed:
        hint = " (add and commit need the tool spec 'git:write')" if subcommand in WRITE_SUBCOMMANDS else ""
        raise ToolError(
            f"git {subcommand[:50]!r} is not allowed{hint}; the first argument must be one of: {', '.join(allowed)}"
        )
    options = OPTIONS[subcommand]
    rest = iter(args[1:])
    paths_only = False
    for arg in rest:
        if paths_only or arg == "-" or not arg.startswith("-"):
            _check_positional(arg, workspace)
        elif arg == "--":
            paths_only = True
        elif arg.startswith("--"):
            name, equals, _ = arg.partition("=")
            kind = _option(options, subcommand, name)
            if equals and kind is Kind.FLAG:
                raise ToolError(f"git {subcommand} option {name} takes no value")
            if not equals and kind is Kind.ATTACHED:
                raise ToolError(f"git {subcommand} option {name} needs a value: {name}=VALUE")
            if not equals and kind is Kind.VALUE and next(rest, None) is None:
                raise ToolError(f"git {subcommand} option {name} needs a value")
        elif subcommand in ("log", "show") and arg[1:].isdigit():
            continue  # -5: the last five commits
        else:
            _check_short(arg, options, subcommand, rest)


def _check_short(arg: str, options: Mapping[str, Kind], subcommand: str, rest: Iterator[str]) -> None:
    """-x, -xVALUE, -x VALUE, or a cluster of flags (-sb)."""
    for index in range(1, len(arg)):
        name = "-" + arg[index]
        kind = _option(options, subcommand, name)
        attached = arg[index + 1 :]
        if kind is Kind.FLAG:
            continue
        if kind is Kind.VALUE and not attached and next(rest, None) is None:
            raise ToolError(f"git {subcommand} option {name} needs a value")
        return  # the rest of the word is this option's value


def _option(options: Mapping[str, Kind], subcommand: str, name: str) -> Kind:
    kind = options.get(name)
    if kind is None:
        raise ToolError(
            f"git {subcommand} option {name[:60]!r} is not allowed here (only common read-only options, spelt out in "
            "full; options that write files, run programs or leave the workspace are refused)"
        )
    return kind


def _check_positional(arg: str, workspace: Workspace) -> None:
    if arg.startswith(("/", "~")) or ".." in arg.split("/"):
        raise PathRefused(
            f"git argument {arg[:200]!r} points outside the workspace; use revisions and paths relative to it"
        )
    try:
        workspace.lookup(arg)
    except PathRefused:
        raise PathRefused(
            f"git argument {arg[:200]!r} leads outside the workspace through a symbolic link; "
            "use paths inside the workspace"
        ) from None


def run_git(
    workspace: Workspace,
    args: Sequence[str],
    *,
    write: bool,
    env: Mapping[str, str],
    timeout: float,
    cancelled: threading.Event | None,
) -> ToolOutcome:
    check_args(args, write=write, workspace=workspace)
    argv = ["git", "--no-pager"]
    for setting in _CONFIG:
        argv += ["-c", setting]
    try:
        finished = run_bounded(
            [*argv, *args], cwd=workspace.root, env=git_env(env, workspace), timeout=timeout, cancelled=cancelled
        )
    except OSError as exc:
        raise ToolError(f"git could not be started: {exc.strerror or exc}") from None
    return report(finished, "git")


def git_env(env: Mapping[str, str], workspace: Workspace) -> dict[str, str]:
    result = {key: value for key, value in env.items() if key not in _DROPPED_ENV}
    result.update(
        GIT_CONFIG_NOSYSTEM="1",
        GIT_TERMINAL_PROMPT="0",
        GIT_PAGER="cat",
        PAGER="cat",
        GIT_EDITOR="true",  # commit without -m aborts ("empty message") instead of waiting for an editor
        GIT_NO_LAZY_FETCH="1",
        GIT_CEILING_DIRECTORIES=os.path.dirname(workspace.real),
    )
    return result
