"""The LLM agent's built-in tools, confined to the run's workspace.

Tool specs (a step's ``Step.llm(tools=[...])``, a prompt's frontmatter ``tools:``):

- a plain name: ``read_file``, ``write_file``, ``edit_file``, ``list_files``,
  ``grep``, ``bash`` (any command), ``git`` (read-only: ``status``, ``diff``,
  ``log``, ``show``);
- ``bash:CMD1,CMD2``: bash limited to one simple command whose program (its
  first word) is one of those named, e.g. ``bash:pytest,ruff``;
- ``git:write``: git that may also ``add`` and ``commit``.

Specs combine as a union (``bash:ls`` and ``bash:cat`` allow both); no specs at
all (`None`) means `DEFAULT_TOOLS`, which only read; an empty list means no
tools. Anything else raises `ToolSpecError`.

`Toolbox(workspace, parse_tool_specs(specs), env=...)` gives the API
definitions (`definitions()`) and runs calls (`run(name, input)`), which never
raise: every problem is a `ToolOutcome` with ``is_error=True``. File tools
resolve every path through `paths.Workspace`, which refuses anything outside
the workspace (``..``, absolute paths, symbolic links leading out); bash is not
confined (see `shell`); git is limited to allowed subcommands and options (see
`git`).
"""

from __future__ import annotations

from plue.llm.tools.outcome import ToolOutcome
from plue.llm.tools.selection import DEFAULT_TOOLS, KNOWN_TOOLS, ToolSelection, ToolSpecError, parse_tool_specs
from plue.llm.tools.toolbox import Toolbox

__all__ = [
    "DEFAULT_TOOLS",
    "KNOWN_TOOLS",
    "ToolOutcome",
    "ToolSelection",
    "ToolSpecError",
    "Toolbox",
    "parse_tool_specs",
]
