"""Store records shaped as API replies (the server's counterpart of the CLI's `--json`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from plue.store import LlmUsageRecord, RunRecord
from plue.validation.graph import topological_order


def run_duration(run: RunRecord) -> float | None:
    if run.started_at is None or run.finished_at is None:
        return None
    return run.finished_at - run.started_at


def run_summary(run: RunRecord) -> dict[str, Any]:
    return {
        "id": run.id,
        "workflow": {"id": run.workflow_id, "path": run.workflow_path, "name": run.workflow_name},
        "status": run.status,
        "event": run.event_name,
        "repository": run.repository,
        "sha": run.sha,
        "ref": run.ref,
        "branch": run.branch,
        "created_at": run.created_at,
        "queued_at": run.queued_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "duration": run_duration(run),
        "attempt": run.attempt,
        "parent_run_id": run.parent_run_id,
        "concurrency_group": run.concurrency_group,
    }


def ordered_plan_steps(run: RunRecord) -> list[dict[str, Any]]:
    """The plan's steps in topological order (plan order among equals)."""
    return [dict(step) for step in topological_order(run.plan.get("steps", []))]


def run_detail(run: RunRecord, usage: Sequence[LlmUsageRecord] = ()) -> dict[str, Any]:
    """The summary plus inputs, every step (topological order) with all its attempts, and LLM calls."""
    latest = {step.id: step for step in run.steps}
    steps = []
    for spec in ordered_plan_steps(run):
        step_id = str(spec["id"])
        record = latest.get(step_id)
        base = (
            record.to_json()
            if record is not None
            else {
                "id": step_id,
                "status": "pending",
                "attempt": 1,
                "exit_code": None,
                "outputs": {},
                "error": None,
                "reason": None,
                "started_at": None,
                "finished_at": None,
                "reused": False,
            }
        )
        base["depends_on"] = [str(dep) for dep in spec.get("depends_on", [])]
        base["type"] = spec.get("type")
        base["attempts"] = [attempt.to_json() for attempt in run.attempts if attempt.id == step_id]
        steps.append(base)
    return {
        **run_summary(run),
        "inputs": run.inputs,
        "error": run.error,
        "cancel_requested": run.cancel_requested,
        "steps": steps,
        "llm_usage": [call.to_json() for call in usage],
    }
