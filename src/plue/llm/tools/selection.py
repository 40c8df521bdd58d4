"""Which tools a step's agent gets: tool spec strings → a `ToolSelection`.

Specs combine as a union of permissions: ``["bash:ls", "bash:cat"]`` allows both
programs, plain ``"bash"`` next to ``"bash:ls"`` allows any command, and
``"git"`` next to ``"git:write"`` is git with write access. Repeating a spec is
harmless. An empty list means no tools at all; `None` (neither the step nor its
prompt names tools) means `DEFAULT_TOOLS`, which only read.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

KNOWN_TOOLS: Final[tuple[str, ...]] = ("read_file", "write_file", "edit_file", "list_files", "grep", "bash", "git")
DEFAULT_TOOLS: Final[tuple[str, ...]] = ("read_file", "list_files", "grep", "git")

# A program name as the first word of a command: no slashes (a path would name a file the agent may write).
_PROGRAM = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*")
_FORMS: Final = "a plain name, 'bash:CMD1,CMD2' (bash limited to those programs) or 'git:write' (git add and commit)"


class ToolSpecError(ValueError):
    """A tool spec that names no tool or has an option the tool does not take."""


@dataclass(frozen=True)
class ToolSelection:
    names: tuple[str, ...]  # the tools the agent gets, in KNOWN_TOOLS order
    bash_programs: frozenset[str] | None = None  # bash may run only these programs; None: any command
    git_write: bool = False  # git may also add and commit

    def __contains__(self, name: object) -> bool:
        return name in self.names

    @property
    def specs(self) -> tuple[str, ...]:
        """The selection as canonical spec strings (`parse_tool_specs(selection.specs) == selection`)."""
        specs: list[str] = []
        for name in self.names:
            if name == "bash" and self.bash_programs is not None:
                specs.append("bash:" + ",".join(sorted(self.bash_programs)))
            elif name == "git" and self.git_write:
                specs.append("git:write")
            else:
                specs.append(name)
        return tuple(specs)


def parse_tool_specs(specs: Sequence[str] | None) -> ToolSelection:
    """Read a step's or a prompt's `tools` list; `None` gives the read-only `DEFAULT_TOOLS`."""
    if specs is None:
        return ToolSelection(DEFAULT_TOOLS)
    if isinstance(specs, str | bytes) or not isinstance(specs, Sequence):
        raise ToolSpecError(f"tools must be a list of tool specs, not {type(specs).__name__}")
    names: set[str] = set()
    any_command = False
    programs: set[str] = set()
    git_write = False
    for spec in specs:
        if not isinstance(spec, str):
            raise ToolSpecError(f"a tool spec must be a string, not {type(spec).__name__}; {_valid()}")
        name, colon, option = spec.strip().partition(":")
        if name not in KNOWN_TOOLS:
            raise ToolSpecError(f"unknown tool {spec!r}; {_valid()}")
        names.add(name)
        if not colon:
            any_command = any_command or name == "bash"
        elif name == "bash":
            programs.update(_programs(spec, option))
        elif name == "git" and option == "write":
            git_write = True
        else:
            raise ToolSpecError(f"unknown tool {spec!r}: {name} takes no option {option!r}; {_valid()}")
    bash_programs = None if any_command or "bash" not in names else frozenset(programs)
    return ToolSelection(tuple(name for name in KNOWN_TOOLS if name in names), bash_programs, git_write)


def _programs(spec: str, option: str) -> list[str]:
    programs = [part.strip() for part in option.split(",") if part.strip()]
    if not programs:
        raise ToolSpecError(f"tool spec {spec!r} names no programs; write 'bash:CMD1,CMD2', or 'bash' for any command")
    for program in programs:
        if not _PROGRAM.fullmatch(program):
            raise ToolSpecError(
                f"tool spec {spec!r}: {program!r} is not a program name (letters, digits, '_', '.', '+', '-'; no paths)"
            )
    return programs


def _valid() -> str:
    return f"the tools are: {', '.join(KNOWN_TOOLS)} (each {_FORMS})"
