"""`python` steps: an inline ``script`` or a workspace ``file``, run by the runner's Python.

An inline script is written to a file named after the step in a private
temporary directory and run from there (as GitHub's ``shell: python`` does), so
tracebacks show the step's source lines: ``File ".../build.py", line 3``. As
with any script file, ``sys.path[0]`` is the script's directory; the working
directory is the workspace. A ``file`` is resolved inside the workspace; a path
that leaves it (``..``, an absolute path, a symlink out) is refused.
``PYTHONUNBUFFERED=1`` is set unless the step sets it, so output arrives as it
is printed.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from plue.engine.events import StepStatus
from plue.engine.executor import StepContext, StepResult
from plue.steps.process import KILL_GRACE_SECONDS, run_process


class PythonExecutor:
    def __init__(self, *, python: str | None = None, kill_grace: float = KILL_GRACE_SECONDS) -> None:
        self._python = python or sys.executable
        self._kill_grace = kill_grace

    def run(self, context: StepContext) -> StepResult:
        env = {"PYTHONUNBUFFERED": "1", **context.env}
        file = context.step.get("file")
        if file is not None:
            path = workspace_file(context.workspace, str(file))
            if isinstance(path, str):
                return StepResult(StepStatus.FAILED, error=path)
            return run_process([self._python, str(path)], context, env=env, kill_grace=self._kill_grace)
        with tempfile.TemporaryDirectory(prefix="plue-python-") as directory:
            script = Path(directory) / f"step-{context.step['id']}.py"  # "-": never shadows a module
            script.write_text(str(context.step["script"]), encoding="utf-8")
            return run_process([self._python, str(script)], context, env=env, kill_grace=self._kill_grace)


def workspace_file(workspace: Path, relative: str) -> Path | str:
    """The file's resolved path inside the workspace, or why it cannot be used."""
    root = workspace.resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        return f"python file {relative!r} is outside the workspace; give a path inside the repository"
    if not path.is_file():
        return f"python file {relative!r} does not exist in the workspace"
    return path
