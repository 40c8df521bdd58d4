"""`bash` steps: ``bash -eo pipefail -c CMD`` in the workspace."""

from __future__ import annotations

import shutil

from plue.engine.executor import StepContext, StepResult
from plue.steps.process import KILL_GRACE_SECONDS, run_process


class BashExecutor:
    def __init__(self, *, bash: str | None = None, kill_grace: float = KILL_GRACE_SECONDS) -> None:
        # Found once, on the runner's PATH: not once per step.
        self._bash = bash or shutil.which("bash") or "/bin/bash"
        self._kill_grace = kill_grace

    def run(self, context: StepContext) -> StepResult:
        argv = [self._bash, "-eo", "pipefail", "-c", str(context.step["cmd"])]
        return run_process(argv, context, kill_grace=self._kill_grace)
