"""What the store hands back: frozen records with stable field names, and their `--json` form.

Times are float UNIX epoch seconds (None until they happen).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from plue.plan.canonical import content_hash

DEFAULT_MAX_ATTEMPTS = 2  # a run whose runner is lost is started once more
MAX_ATTEMPTS = 10


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
    runs_on: tuple[str, ...] = ()  # the labels a runner needs (empty: any runner or built-in worker)
    max_attempts: int = 2  # attempts in all when runners executing it are lost

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
    # The labels a runner needs (sorted; empty: any runner, the server's built-in workers included), and how
    # many attempts the run gets when its runner is lost. Use `from_plan` to take them from the plan.
    runs_on: tuple[str, ...] = ()
    max_attempts: int = DEFAULT_MAX_ATTEMPTS

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
        """A run of `plan` (a valid plan's data): its name, content hash, concurrency group, the runner
        labels it needs and its max attempts come from it."""
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
            runs_on=runs_on_of(plan),
            max_attempts=max_attempts_of(plan),
        )


def runs_on_of(plan: dict[str, Any]) -> tuple[str, ...]:
    """The labels a run of `plan` needs: the plan's `runs_on` and every step's, sorted (plans from before: none)."""
    labels = set(_labels(plan.get("runs_on")))
    steps = plan.get("steps")
    for step in steps if isinstance(steps, list) else ():
        if isinstance(step, dict):
            labels.update(_labels(step.get("runs_on")))
    return tuple(sorted(labels))


def _labels(value: object) -> list[str]:
    return [label for label in value if isinstance(label, str)] if isinstance(value, list) else []


def max_attempts_of(plan: dict[str, Any]) -> int:
    """The plan's `max_attempts` (1..MAX_ATTEMPTS); the default for plans from before."""
    value = plan.get("max_attempts", DEFAULT_MAX_ATTEMPTS)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ATTEMPTS:
        return DEFAULT_MAX_ATTEMPTS
    return value


def concurrency_of(plan: dict[str, Any]) -> tuple[str | None, bool]:
    """The plan's concurrency group and cancel_in_progress; (None, False) for none (or a plan from before)."""
    spec = plan.get("concurrency")
    if not isinstance(spec, dict) or not isinstance(spec.get("group"), str):
        return None, False
    return spec["group"], spec.get("cancel_in_progress") is True


@dataclass(frozen=True)
class NewDelivery:
    """A webhook delivery to record, with the runs it queues (`Store.record_deliveries`)."""

    delivery_id: str
    event: str
    action: str | None
    repository: str | None
    payload: dict[str, Any] | None
    outcome: str  # queued | ignored | error
    reason: str | None
    runs: tuple[NewRun, ...]
    received_at: float


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
    scope: str  # read | write | admin | runner
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


# --- runners ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunnerRecord:
    """A registered `plue runner` agent."""

    id: str
    name: str
    labels: tuple[str, ...]
    version: str
    host: dict[str, Any]  # hostname, os, arch, python, cpus (as the runner reported them)
    capacity: int  # runs at once
    status: str  # idle | busy | draining | lost | offline
    drain: bool  # asked to finish what it runs and take nothing new
    pool: str | None  # the warm pool that made it, if any
    registered_at: float
    last_heartbeat: float
    current_runs: tuple[int, ...]  # the runs it executes now
    idle_since: float | None  # None while it runs something
    token_name: str | None = None
    last_claim_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "labels": list(self.labels),
            "version": self.version,
            "host": self.host,
            "capacity": self.capacity,
            "status": self.status,
            "drain": self.drain,
            "pool": self.pool,
            "registered_at": self.registered_at,
            "last_heartbeat": self.last_heartbeat,
            "last_claim_at": self.last_claim_at,
            "idle_since": self.idle_since,
            "current_runs": list(self.current_runs),
        }


@dataclass(frozen=True)
class AttemptRecord:
    """One execution of a run by one runner; `id` is the fencing token its reports carry."""

    id: int
    run_id: int
    number: int  # 1, 2, ... per run
    runner_id: str
    runner_name: str | None  # None if the runner's record is gone
    status: str  # running | success | failed | cancelled | lost | aborted
    claimed_at: float
    ended_at: float | None
    acked_seq: int  # the last event batch stored
    error: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "run_id": self.run_id,
            "number": self.number,
            "runner_id": self.runner_id,
            "runner_name": self.runner_name,
            "status": self.status,
            "claimed_at": self.claimed_at,
            "ended_at": self.ended_at,
            "acked_seq": self.acked_seq,
            "error": self.error,
        }


@dataclass(frozen=True)
class ReusedStep:
    """A step that succeeded in an earlier attempt (or run): taken over, not run again."""

    outputs: dict[str, str]
    exit_code: int | None


@dataclass(frozen=True)
class Claim:
    """A run a runner claimed: what it needs to execute it as attempt `attempt` (fenced by `attempt_id`)."""

    run: RunRecord
    attempt_id: int
    attempt: int
    attempt_base: dict[str, int]  # step id -> the highest step attempt stored: number this one's after it
    reuse: dict[str, ReusedStep]  # steps that succeeded before, with their upstream steps


@dataclass(frozen=True)
class HeartbeatAnswer:
    """What a heartbeat tells the runner."""

    status: str  # the runner's status; lost or offline: abort everything and register again
    cancel: list[int]  # its attempts whose run should be cancelled
    abort: list[int]  # attempts it reported that are not its running ones: drop them, report nothing more
    drain: bool  # finish what it runs, take nothing new, then exit


@dataclass(frozen=True)
class BatchAnswer:
    """The answer to a batch of events: resend from `acked + 1`, unless `fenced` (stop: the attempt is over)."""

    acked: int
    fenced: bool = False
    reason: str | None = None


@dataclass(frozen=True)
class LostAttempt:
    """An attempt ended `lost` (its runner fell silent, left, or forgot it); what became of its run."""

    attempt_id: int
    run_id: int
    number: int
    runner_id: str
    runner_name: str
    requeued: bool  # queued again for another attempt; else the run was finished (failed or cancelled)
    reason: str
