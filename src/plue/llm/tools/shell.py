"""The bash tool: ``bash -c COMMAND`` in the workspace, bounded, optionally limited to some programs.

Bash is not confined to the workspace: a command can read and write wherever
the step's user can. A step that gives its agent plain ``bash`` trusts it that
far; isolating the whole step is the runner's job.

With an allowlist (``bash:pytest,ruff``) the command must be one simple
command whose first word is one of the programs. It is parsed with `shlex`
(POSIX rules, operators split out, no comments) and refused if it has a
control operator or redirection (``;``, ``&``, ``&&``, ``||``, ``|``, ``<``,
``>``, parentheses) outside quotes, or, anywhere, even quoted, what bash would
still expand into another command: backticks, ``$(``, ``${`` (whose ``@P``
form expands prompt strings), or a line break. A quoted lone operator
(``"|"``) and an escaped one (``\\;``) are refused too: refusing a harmless
command is better than running a harmful one. An allowed program that runs
other programs (``find -exec``, ``xargs``, ``env``, ``sh``) allows them all.
"""

from __future__ import annotations

import shlex
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from plue.llm.tools.outcome import ToolError, ToolOutcome
from plue.llm.tools.process import Finished, run_bounded

_OPERATOR_CHARS: Final = frozenset("();<>|&")
_EXPANSIONS: Final = (("`", "backticks"), ("$(", "$("), ("${", "${"), ("\n", "line breaks"), ("\r", "line breaks"))


def check_allowed(command: str, programs: frozenset[str]) -> None:
    """Refuse `command` unless it is one simple command running one of `programs`."""
    allowed = ", ".join(sorted(programs))
    rules = f"bash may only run one simple command with one of these programs: {allowed}"
    for text, name in _EXPANSIONS:
        if text in command:
            raise ToolError(f"{rules}; the command must not contain {name}")
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = ""  # bash starts comments only at a word's start; shlex anywhere: take '#' as text
    try:
        words = list(lexer)
    except ValueError as exc:
        raise ToolError(f"the command cannot be parsed ({str(exc).lower()}); {rules}") from None
    if not words:
        raise ToolError(f"the command is empty; {rules}")
    for word in words:
        if set(word) <= _OPERATOR_CHARS:
            raise ToolError(f"{rules}; no operators or redirections such as {word!r}")
    if words[0] not in programs:
        raise ToolError(f"{rules}; {words[0][:100]!r} is not one of them")


def run_bash(
    workspace: Path,
    command: str,
    *,
    programs: frozenset[str] | None,
    env: Mapping[str, str],
    timeout: float,
    cancelled: threading.Event | None,
) -> ToolOutcome:
    if not command.strip():
        raise ToolError("the command is empty")
    if programs is not None:
        check_allowed(command, programs)
    try:
        finished = run_bounded(["bash", "-c", command], cwd=workspace, env=env, timeout=timeout, cancelled=cancelled)
    except OSError as exc:
        raise ToolError(f"bash could not be started: {exc.strerror or exc}") from None
    return report(finished, "the command")


def report(finished: Finished, what: str) -> ToolOutcome:
    """The output, then how the process ended; anything but exit code 0 is an error for the model."""
    output = finished.output if finished.output else "(no output)"
    if not output.endswith("\n"):
        output += "\n"
    if finished.stopped == "cancelled":
        return ToolOutcome(f"{output}[cancelled: the step is stopping; {what} and all it started were killed]", True)
    if finished.stopped is not None:
        return ToolOutcome(f"{output}[{finished.stopped}: {what} and all it started were killed]", True)
    if finished.signal is not None:
        return ToolOutcome(f"{output}[killed by {finished.signal}]", True)
    if finished.exit_code is None:
        return ToolOutcome(f"{output}[{what} could not be stopped]", True)
    return ToolOutcome(f"{output}[exit code {finished.exit_code}]", finished.exit_code != 0)
