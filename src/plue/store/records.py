"""What the store hands back: frozen records with stable field names, and their `--json` form.

Times are float UNIX epoch seconds (None until they happen).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from plue.plan.canonical import content_hash


@dataclass(frozen=True)
class StepRecord:
    """One attempt of one step."""

    id: str
    attempt: int
    status: str  # pending | running | success | failed | skipped | cancelled | timed_out
    exit_code: int | None
    outputs: dict[str, str]
    error: str | None
    reason: str | None  # why it was skipped
    started_at: float | None
    finished_at: float | None
    reused: bool  # a rerun carried a success over instead of running it again
    extra: dict[str, Any] | None  # executor details (llm text, output, usage); not in to_json

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "exit_code": self.exit_code,
            "outputs": self.outputs,
            "attempt": self.attempt,
            "error": self.error,
            "reason": self.reason,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "reused": self.reused,
        }


@dataclass(frozen=True)
class RunRecord:
    id: int
    workflow_id: int
    workflow_path: str
    workflow_name: str
    status: str  # queued | running | success | failed | cancelled | interrupted
    event_name: str | None
    event: dict[str, Any] | None  # the event payload
    inputs: dict[str, Any]
    plan: dict[str, Any]
    attempt: int  # 1, or the parent's attempt + 1 for a rerun
    parent_run_id: int | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    error: str | None
    owner: str | None  # host:pid:process-start-time of the process executing it
    cancel_requested: bool
    steps: tuple[StepRecord, ...]  # the latest attempt of each step, in plan order
    attempts: tuple[StepRecord, ...]  # every attempt: plan order, then attempt
    # Where a server run comes from; None for local runs.
    repository: str | None = None  # "owner/name"
    sha: str | None = None
    ref: str | None = None
    branch: str | None = None
    delivery_id: str | None = None  # the webhook delivery that queued it
    queued_at: float | None = None
    concurrency_group: str | None = None  # runs of one group run one at a time (the plan's `concurrency`)

    def to_json(self) -> dict[str, Any]:
        """The run for `--json` output: the event by name only (payloads can be large), steps' latest attempts."""
        return {
            "id": self.id,
            "workflow": {"id": self.workflow_id, "path": self.workflow_path, "name": self.workflow_name},
            "status": self.status,
            "event": self.event_name,
            "inputs": self.inputs,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "error": self.error,
            "attempt": self.attempt,
            "parent_run_id": self.parent_run_id,
            "cancel_requested": self.cancel_requested,
            "repository": self.repository,
            "sha": self.sha,
            "ref": self.ref,
            "branch": self.branch,
            "delivery_id": self.delivery_id,
            "queued_at": self.queued_at,
            "concurrency_group": self.concurrency_group,
            "steps": [step.to_json() for step in self.steps],
        }


@dataclass(frozen=True)
class LogRecord:
    id: int  # the cursor for read_logs(after=...)
    run_id: int
    step_id: str
    attempt: int
    seq: int  # from 1 per step attempt
    stream: str
    at: float
    text: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "run_id": self.run_id,
            "step_id": self.step_id,
            "attempt": self.attempt,
            "seq": self.seq,
            "stream": self.stream,
            "at": self.at,
            "text": self.text,
        }


@dataclass(frozen=True)
class LlmUsageRecord:
    """One call to an LLM provider made by a step attempt."""

    step_id: str
    attempt: int
    turn: int | None
    model: str
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost_usd: float  # an estimate from list prices; 0 for models without a known price
    latency_ms: float | None
    stop_reason: str | None
    request_id: str | None
    at: float

    def to_json(self) -> dict[str, Any]:
        return {
            "step_id": self.step_id,
            "attempt": self.attempt,
            "turn": self.turn,
            "model": self.model,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "cost_usd": self.cost_usd,
            "latency_ms": self.latency_ms,
            "stop_reason": self.stop_reason,
            "request_id": self.request_id,
            "at": self.at,
        }


@dataclass(frozen=True)
class NewRun:
    """A run to queue, with the workflow (version) it comes from."""

    workflow_path: str
    workflow_name: str
    content_hash: str
    plan: dict[str, Any]
    event_name: str | None
    event: dict[str, Any] | None
    inputs: dict[str, Any]
    repository: str | None = None
    sha: str | None = None
    ref: str | None = None
    branch: str | None = None
    # One run of a group at a time; queuing one cancels the group's older queued run (and, with
    # `cancel_in_progress`, its running run). Use `from_plan` to take them from the plan.
    concurrency_group: str | None = None
    cancel_in_progress: bool = False

    @classmethod
    def from_plan(
        cls,
        workflow_path: str,
        plan: dict[str, Any],
        *,
        event_name: str | None,
        event: dict[str, Any] | None,
        inputs: dict[str, Any],
        repository: str | None = None,
        sha: str | None = None,
        ref: str | None = None,
        branch: str | None = None,
    ) -> NewRun:
        """A run of `plan` (a valid plan's data): its name, content hash and concurrency group come from it."""
        group, cancel_in_progress = concurrency_of(plan)
        return cls(
            workflow_path=workflow_path,
            workflow_name=str(plan["name"]),
            content_hash=content_hash(plan),
            plan=plan,
            event_name=event_name,
            event=event,
            inputs=inputs,
            repository=repository,
            sha=sha,
            ref=ref,
            branch=branch,
            concurrency_group=group,
            cancel_in_progress=cancel_in_progress,
        )


def concurrency_of(plan: dict[str, Any]) -> tuple[str | None, bool]:
    """The plan's concurrency group and cancel_in_progress; (None, False) for none (or a plan from before)."""
    spec = plan.get("concurrency")
    if not isinstance(spec, dict) or not isinstance(spec.get("group"), str):
        return None, False
    return spec["group"], spec.get("cancel_in_progress") is True


@dataclass(frozen=True)
class DeliveryRecord:
    """A webhook delivery and what came of it."""

    id: int  # the cursor for list_deliveries(before=...)
    delivery_id: str
    event: str
    action: str | None
    repository: str | None
    received_at: float
    outcome: str  # queued | ignored | error
    reason: str | None
    run_ids: tuple[int, ...]
    payload: dict[str, Any] | None  # the decoded body; not in to_json (payloads can be large)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "delivery_id": self.delivery_id,
            "event": self.event,
            "action": self.action,
            "repository": self.repository,
            "received_at": self.received_at,
            "outcome": self.outcome,
            "reason": self.reason,
            "run_ids": list(self.run_ids),
        }


@dataclass(frozen=True)
class TokenRecord:
    """An API token, without the token (only its hash is stored)."""

    id: int
    name: str
    scope: str  # read | write | admin
    created_at: float
    last_used_at: float | None
    revoked: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "scope": self.scope,
            "created_at": self.created_at,
            "last_used_at": self.last_used_at,
            "revoked": self.revoked,
        }
