"""`llm` steps, for now: a placeholder that fails the step with a clear message.

The llm executor (agent loop, tools, usage) replaces it in its own issue.
"""

from __future__ import annotations

from typing import Final

from plue.engine.events import StepStatus
from plue.engine.executor import StepContext, StepResult

LLM_UNAVAILABLE: Final = "llm steps are not available in this version (set up the llm executor)"


class UnavailableLlmExecutor:
    def run(self, context: StepContext) -> StepResult:
        return StepResult(StepStatus.FAILED, error=LLM_UNAVAILABLE)
