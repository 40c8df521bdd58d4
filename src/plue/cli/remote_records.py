"""The API's JSON turned back into the store's records, so remote runs render as local ones do.

The API shapes records (`plue.server.api.shaping`); this undoes it. What the API does not send
is left empty: the event payload, the run's owner, and the plan, rebuilt from the steps (their
ids, types and dependencies, all `plue.cli.run_render` reads of it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from plue.cli.remote import RemoteError
from plue.store import LlmUsageRecord, LogRecord, RunRecord, StepRecord

USAGE_FIELDS = tuple(field.name for field in fields(LlmUsageRecord))


class UnexpectedAnswer(RemoteError):
    def __init__(self, what: str, exc: Exception) -> None:
        super().__init__(
            f"the server's {what} is not what this plue expects ({type(exc).__name__}: {exc}): "
            "are the server and the CLI the same version?"
        )


def run_record(data: Mapping[str, Any]) -> RunRecord:
    """A run of `GET /api/runs/{id}` (with its steps) or of `GET /api/runs` (a summary: no steps)."""
    try:
        return _run(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise UnexpectedAnswer("run", exc) from None


def _run(data: Mapping[str, Any]) -> RunRecord:
    step_data = list(data.get("steps", []))
    workflow = data["workflow"]
    plan = {
        "name": workflow["name"],
        "steps": [
            {"id": str(step["id"]), "type": step.get("type"), "depends_on": list(step.get("depends_on", []))}
            for step in step_data
        ],
    }
    return RunRecord(
        id=int(data["id"]),
        workflow_id=int(workflow["id"]),
        workflow_path=str(workflow["path"]),
        workflow_name=str(workflow["name"]),
        status=str(data["status"]),
        event_name=data.get("event"),
        event=None,
        inputs=dict(data.get("inputs") or {}),
        plan=plan,
        attempt=int(data.get("attempt", 1)),
        parent_run_id=data.get("parent_run_id"),
        created_at=float(data["created_at"]),
        started_at=data.get("started_at"),
        finished_at=data.get("finished_at"),
        error=data.get("error"),
        owner=None,
        cancel_requested=bool(data.get("cancel_requested", False)),
        steps=tuple(_step(step) for step in step_data),
        attempts=tuple(_step(attempt) for step in step_data for attempt in step.get("attempts", [])),
        repository=data.get("repository"),
        sha=data.get("sha"),
        ref=data.get("ref"),
        branch=data.get("branch"),
        delivery_id=None,
        queued_at=data.get("queued_at"),
    )


def _step(data: Mapping[str, Any]) -> StepRecord:
    return StepRecord(
        id=str(data["id"]),
        attempt=int(data["attempt"]),
        status=str(data["status"]),
        exit_code=data.get("exit_code"),
        outputs={str(key): str(value) for key, value in (data.get("outputs") or {}).items()},
        error=data.get("error"),
        reason=data.get("reason"),
        started_at=data.get("started_at"),
        finished_at=data.get("finished_at"),
        reused=bool(data.get("reused", False)),
        extra=None,
    )


def usage_records(data: Mapping[str, Any]) -> list[LlmUsageRecord]:
    try:
        return [LlmUsageRecord(**{name: call[name] for name in USAGE_FIELDS}) for call in data.get("llm_usage", [])]
    except (KeyError, TypeError) as exc:
        raise UnexpectedAnswer("LLM usage", exc) from None


def log_record(run_id: int, data: Mapping[str, Any]) -> LogRecord:
    """A line of `GET /api/runs/{id}/logs` or of a `log` event."""
    try:
        return LogRecord(
            id=int(data["id"]),
            run_id=run_id,
            step_id=str(data["step_id"]),
            attempt=int(data["attempt"]),
            seq=int(data["seq"]),
            stream=str(data["stream"]),
            at=float(data["at"]),
            text=str(data["text"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise UnexpectedAnswer("log line", exc) from None
