"""The plan's steps as a graph the engine walks: nodes, dependencies, and the ``when`` gate.

Pure bookkeeping, no threads: `engine` owns the timing and the processes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from plue.engine.events import StepStatus

_DEPENDENCY_PHRASES = {
    StepStatus.FAILED: "failed",
    StepStatus.TIMED_OUT: "timed out",
    StepStatus.SKIPPED: "was skipped",
    StepStatus.CANCELLED: "was cancelled",
}


@dataclass(eq=False)
class StepNode:
    index: int  # position in the plan: ties between ready steps go to the earlier one
    id: str
    step: Mapping[str, Any]
    deps: list[int]
    dependents: list[int] = field(default_factory=list)
    waiting_on: int = 0  # dependencies not finished yet
    attempts: int = 0  # attempts started so far
    status: StepStatus | None = None  # the final status, once finished

    @property
    def finished(self) -> bool:
        return self.status is not None


def build_nodes(steps: Sequence[Mapping[str, Any]]) -> list[StepNode]:
    """A node per step, in plan order (the plan is valid: ids unique, dependencies exist, no cycles)."""
    position = {str(step["id"]): index for index, step in enumerate(steps)}
    nodes = [
        StepNode(index, str(step["id"]), step, [position[dep] for dep in step["depends_on"]])
        for index, step in enumerate(steps)
    ]
    for node in nodes:
        node.waiting_on = len(node.deps)
        for dep in node.deps:
            nodes[dep].dependents.append(node.index)
    return nodes


def skip_reason(node: StepNode, nodes: Sequence[StepNode]) -> str | None:
    """Why a step whose dependencies have all finished must not run (None: it runs).

    ``on_success``: every dependency succeeded (a reused step counts as a success);
    ``always``: runs whatever they did; ``on_failure``: runs when at least one did
    not succeed (failed, timed out, was skipped or cancelled).
    """
    unsuccessful = [nodes[dep] for dep in node.deps if nodes[dep].status is not StepStatus.SUCCESS]
    when = node.step.get("when", "on_success")
    if when == "always":
        return None
    if when == "on_failure":
        return None if unsuccessful else "no dependency failed"
    if unsuccessful:
        first = unsuccessful[0]
        assert first.status is not None
        return f"dependency '{first.id}' {_DEPENDENCY_PHRASES.get(first.status, first.status.value)}"
    return None
