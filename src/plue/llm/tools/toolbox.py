"""`Toolbox`: the selected tools bound to one workspace, environment and cancel event.

`run` is the only way the agent loop calls a tool, and it never raises for
anything the model sends: unknown tools, input that does not fit the schema,
refused paths and failed commands all come back as `ToolOutcome(is_error=True)`
with one sentence on what to do instead.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from plue.llm.tools.definitions import tool_definitions
from plue.llm.tools.files import edit_file, list_files, read_file, write_file
from plue.llm.tools.git import run_git
from plue.llm.tools.inputs import check_input
from plue.llm.tools.outcome import ToolError, ToolOutcome
from plue.llm.tools.paths import Workspace
from plue.llm.tools.search import GrepRequest, grep
from plue.llm.tools.selection import KNOWN_TOOLS, ToolSelection
from plue.llm.tools.shell import run_bash


class Toolbox:
    def __init__(
        self,
        workspace: Path,
        selection: ToolSelection,
        *,
        env: Mapping[str, str],
        cancelled: threading.Event | None = None,
        bash_timeout: float = 120.0,
    ) -> None:
        self.workspace = Workspace(workspace)
        self.selection = selection
        self.env = dict(env)
        self.cancelled = cancelled
        self.bash_timeout = bash_timeout
        self._definitions = tool_definitions(selection, bash_timeout)
        self._schemas = {definition["name"]: definition["input_schema"] for definition in self._definitions}

    def definitions(self) -> list[dict[str, Any]]:
        """Anthropic tool params ({"name", "description", "input_schema"}) of the selected tools, KNOWN_TOOLS order."""
        return copy.deepcopy(self._definitions)

    def run(self, name: str, tool_input: object) -> ToolOutcome:
        """Call tool `name` with the model's `tool_input`; errors are outcomes, never exceptions."""
        try:
            return self._run(name, tool_input)
        except ToolError as exc:
            return ToolOutcome(str(exc), is_error=True)
        except RecursionError:
            return ToolOutcome(f"{name}: the input is nested too deeply", is_error=True)
        except Exception as exc:  # a bug or an OS failure: the model still gets an answer, the loop goes on
            return ToolOutcome(f"{name} failed: {type(exc).__name__}: {exc}", is_error=True)

    def _run(self, name: str, tool_input: object) -> ToolOutcome:
        available = ", ".join(self.selection.names) or "none"
        if not isinstance(name, str) or name not in KNOWN_TOOLS:
            raise ToolError(f"unknown tool {str(name)[:100]!r}; the tools available here are: {available}")
        if name not in self.selection:
            raise ToolError(f"the tool {name} is not available in this step; the tools available here are: {available}")
        problem = check_input(name, self._schemas[name], tool_input)
        if problem:
            raise ToolError(problem)
        assert isinstance(tool_input, dict)
        if self.cancelled is not None and self.cancelled.is_set():
            raise ToolError("cancelled: the step is being stopped")
        call: Callable[[dict[str, Any]], ToolOutcome] = getattr(self, f"_{name}")
        return call(tool_input)

    def _read_file(self, given: dict[str, Any]) -> ToolOutcome:
        offset, limit = given.get("offset"), given.get("limit")
        offset = None if offset is None else int(offset)
        limit = None if limit is None else int(limit)
        return ToolOutcome(read_file(self.workspace, given["path"], offset, limit))

    def _write_file(self, given: dict[str, Any]) -> ToolOutcome:
        return ToolOutcome(write_file(self.workspace, given["path"], given["content"]))

    def _edit_file(self, given: dict[str, Any]) -> ToolOutcome:
        text = edit_file(
            self.workspace, given["path"], given["old_string"], given["new_string"], given.get("replace_all", False)
        )
        return ToolOutcome(text)

    def _list_files(self, given: dict[str, Any]) -> ToolOutcome:
        return ToolOutcome(list_files(self.workspace, given.get("pattern"), given.get("path")))

    def _grep(self, given: dict[str, Any]) -> ToolOutcome:
        request = GrepRequest(
            pattern=given["pattern"],
            path=given.get("path", "."),
            glob=given.get("glob"),
            ignore_case=given.get("ignore_case", False),
            max_results=int(given.get("max_results", GrepRequest.max_results)),
        )
        return grep(self.workspace, request, cancelled=self.cancelled)

    def _bash(self, given: dict[str, Any]) -> ToolOutcome:
        return run_bash(
            self.workspace.root,
            given["command"],
            programs=self.selection.bash_programs,
            env=self.env,
            timeout=min(float(given.get("timeout", self.bash_timeout)), self.bash_timeout),
            cancelled=self.cancelled,
        )

    def _git(self, given: dict[str, Any]) -> ToolOutcome:
        return run_git(
            self.workspace,
            given["args"],
            write=self.selection.git_write,
            env=self.env,
            timeout=self.bash_timeout,
            cancelled=self.cancelled,
        )
