"""Attempts: executions of runs by runner agents, and the events they report. Each function runs inside
the caller's transaction.

A runner claims a queued run whose needed labels (`runs.runs_on`) it has: the run becomes `running`,
owned by ``runner:<id>``, and a `run_attempts` row is made. Its id is the *fencing token*: the runner
sends it with every batch of events, and a batch is stored only while that attempt is `running` and its
run is still owned by the runner. An attempt that was declared lost (or aborted) is never heard again.

Batches carry a sequence number per attempt: `acked_seq + 1` is applied (every event, and the new
`acked_seq`, in one transaction); a lower one was stored already (answered with `acked_seq`, nothing
done); a higher one leaves a gap (answered with `acked_seq`: the runner resends from there). So a batch
sent twice is stored once, and batches cannot be applied out of order.

Events are plain dicts in the wire format of `plue.runners.wire` (already decoded and checked by the
server); they are applied with the same writes as the engine's local sink (`plue.runners.local.StoreSink`):
a step's log lines before its end, the LLM calls of a step's end as usage rows.

When an attempt is lost (its runner fell silent, left, or no longer knows the run), its running and
pending steps are finished `cancelled` (log lines kept), and the run goes back to the queue for its next
attempt, or, after `max_attempts`, is finished `failed` (`cancelled` if a cancel was requested). A later
attempt numbers each step's attempts after the stored ones (`attempt_base`) and takes over the steps
that succeeded (`reuse`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from sqlalchemy import ColumnElement, Connection, Row, bindparam, cast, exists, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import JSONB

from plue.store import queue
from plue.store import runs as run_queries
from plue.store.errors import StoreError
from plue.store.logs import LogInserter, LogLineTuple
from plue.store.models import run_attempts, runners, runs, steps
from plue.store.notify import run_changed
from plue.store.records import AttemptRecord, BatchAnswer, Claim, LostAttempt, ReusedStep, RunRecord
from plue.store.recovery import runner_owner
from plue.store.usage import add_llm_usage
from plue.store.values import clean_json, clean_optional

GONE_STATUSES: Final = ("lost", "offline")  # a runner in these must register again
CLAIM_SCAN: Final = 100  # SQLite: queued runs read at a time when matching labels in Python
MAX_ID: Final = 2**31 - 1  # attempt and run ids are 32-bit on PostgreSQL: a larger one names nothing


class RunnerGone(StoreError):
    """The runner is unknown, lost or offline: it must register again."""


class RunnerDraining(StoreError):
    """The runner is draining: it takes no new run (finish, deregister, exit)."""


class BatchRefused(StoreError):
    """A batch of events cannot be applied (nothing of it was stored); the message names the event."""


# --- claims ----------------------------------------------------------------------------------------------


def may_claim(connection: Connection, runner_id: str) -> bool:
    """Whether a claim could find something (a read, so idle runners need not take SQLite's write lock):
    the runner has room and some run is queued. Raises RunnerGone, RunnerDraining."""
    runner = _claimer(connection, runner_id, lock=False)
    if _running_count(connection, runner_id) >= runner.capacity:
        return False
    return bool(connection.execute(select(exists().where(runs.c.status == "queued"))).scalar())


def claim_for_runner(connection: Connection, runner_id: str, at: float) -> Claim | None:
    """The oldest claimable queued run the runner has the labels for, claimed as a new attempt; None when
    none is queued or the runner already runs `capacity` attempts. Raises RunnerGone, RunnerDraining."""
    runner = _claimer(connection, runner_id, lock=True)
    if _running_count(connection, runner_id) >= runner.capacity:
        return None
    labels = sorted(runner.labels or ())
    if connection.dialect.name == "postgresql":
        fits = runs.c.runs_on.op("<@")(cast(bindparam("runner_labels", labels, type_=JSONB), JSONB))
        run_id = queue.take_next(connection, runner_owner(runner_id), at, [or_(runs.c.runs_on.is_(None), fits)])
    else:
        has = set(labels)
        run_id = queue.take_next(
            connection,
            runner_owner(runner_id),
            at,
            accept=lambda row: has.issuperset(row.runs_on or ()),
            scan=CLAIM_SCAN,
        )
    if run_id is None:
        return None
    previous = connection.execute(select(func.max(run_attempts.c.number)).where(run_attempts.c.run_id == run_id))
    number = int(previous.scalar() or 0) + 1
    attempt_id = connection.execute(
        insert(run_attempts)
        .values(run_id=run_id, number=number, runner_id=runner_id, status="running", claimed_at=at, acked_seq=0)
        .returning(run_attempts.c.id)
    ).scalar_one()
    connection.execute(
        update(runners)
        .where(runners.c.id == runner_id)
        .values(status="busy", last_claim_at=at, last_heartbeat=at, idle_since=None)
    )
    run = run_queries.get_run(connection, run_id)
    assert run is not None  # claimed in this transaction
    return Claim(run, int(attempt_id), number, attempt_base(run), reusable(run))


def _claimer(connection: Connection, runner_id: str, *, lock: bool) -> Row[Any]:
    query = select(runners).where(runners.c.id == runner_id)
    # Locked for the claim: two claims of one runner at once cannot both pass its capacity.
    runner = connection.execute(query.with_for_update() if lock else query).first()
    if runner is None:
        raise RunnerGone(f"no runner {runner_id}: register again")
    if runner.status in GONE_STATUSES:
        raise RunnerGone(f"runner {runner.name} is {runner.status}: register again")
    if runner.drain:
        raise RunnerDraining(f"runner {runner.name} is draining: it takes no new run")
    return runner


def attempt_base(run: RunRecord) -> dict[str, int]:
    """Step id -> the highest attempt an earlier execution stored (started, finished or cancelled); steps
    whose only row is the pending one made with the run are left out: their first attempt is still 1."""
    base: dict[str, int] = {}
    for step in run.attempts:
        if step.status != "pending":
            base[step.id] = max(base.get(step.id, 0), step.attempt)
    return base


def reusable(run: RunRecord) -> dict[str, ReusedStep]:
    """Steps whose latest attempt succeeded and whose upstream steps are all taken over too (as a rerun of
    failed steps takes them: a step after one that runs again runs again, its inputs may change)."""
    latest = {step.id: step for step in run.steps}
    specs = [spec for spec in run.plan.get("steps", []) if isinstance(spec, dict)]
    reuse: dict[str, ReusedStep] = {}
    grew = True
    while grew:  # a fixpoint: no need to order the steps
        grew = False
        for spec in specs:
            step_id = str(spec.get("id"))
            step = latest.get(step_id)
            upstream = [str(dep) for dep in spec.get("depends_on", [])]
            if step_id in reuse or step is None or step.status != "success":
                continue
            if all(dep in reuse for dep in upstream):
                reuse[step_id] = ReusedStep(dict(step.outputs), step.exit_code)
                grew = True
    return reuse


def _running_count(connection: Connection, runner_id: str) -> int:
    count = connection.execute(
        select(func.count()).where(run_attempts.c.runner_id == runner_id, run_attempts.c.status == "running")
    ).scalar()
    return int(count or 0)


# --- event batches ---------------------------------------------------------------------------------------


def apply_attempt_batch(
    connection: Connection,
    inserter: LogInserter,
    attempt_id: int,
    seq: int,
    events: Sequence[Mapping[str, Any]],
    at: float,
) -> BatchAnswer:
    """Apply batch `seq` of the attempt's events, once and in order (see the module's docstring)."""
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
        raise ValueError(f"a batch's seq is a whole number from 1, not {seq!r}")
    runner_id = None
    if 1 <= attempt_id <= MAX_ID:
        query = select(run_attempts.c.runner_id).where(run_attempts.c.id == attempt_id)
        runner_id = connection.execute(query).scalar()
    if runner_id is None:
        return BatchAnswer(0, fenced=True, reason=f"there is no attempt {attempt_id}")
    # Locks in the order the other writers take them (runner, attempt, run): no deadlock with the reaper.
    connection.execute(select(runners.c.id).where(runners.c.id == runner_id).with_for_update())
    attempt = connection.execute(select(run_attempts).where(run_attempts.c.id == attempt_id).with_for_update()).one()
    if attempt.status in ("lost", "aborted"):
        why = f": {attempt.error}" if attempt.error else ""
        return BatchAnswer(attempt.acked_seq, fenced=True, reason=f"attempt {attempt_id} was {attempt.status}{why}")
    if seq <= attempt.acked_seq:
        return BatchAnswer(attempt.acked_seq)  # stored before: the runner missed the answer
    if attempt.status != "running":
        return BatchAnswer(attempt.acked_seq, fenced=True, reason=f"attempt {attempt_id} has ended ({attempt.status})")
    run = connection.execute(select(runs.c.status, runs.c.owner).where(runs.c.id == attempt.run_id)).first()
    if run is None or run.status != "running" or run.owner != runner_owner(attempt.runner_id):
        return BatchAnswer(
            attempt.acked_seq, fenced=True, reason=f"run {attempt.run_id} is no longer executed by attempt {attempt_id}"
        )
    if seq != attempt.acked_seq + 1:
        return BatchAnswer(attempt.acked_seq)  # a gap: the runner resends from acked + 1
    finished: str | None = None
    for index, event in enumerate(events):
        try:
            finished = _apply(connection, inserter, attempt.run_id, event) or finished
        except (StoreError, ValueError, KeyError, TypeError) as exc:
            raise BatchRefused(f"event {index} ({_type_of(event)}): {_reason(exc)}") from None
    values: dict[str, Any] = {"acked_seq": seq}
    if finished is not None:
        values.update(status=finished, ended_at=at)
    connection.execute(update(run_attempts).where(run_attempts.c.id == attempt_id).values(values))
    if finished is not None:
        refresh_runner(connection, attempt.runner_id, at)
    return BatchAnswer(seq)


def _apply(connection: Connection, inserter: LogInserter, run_id: int, event: Mapping[str, Any]) -> str | None:
    """Store one event; the run's final status if it was `run_finished`."""
    kind = event["type"]
    handler = _HANDLERS.get(kind)
    if handler is None:
        raise ValueError(f"unknown event type {kind!r}")
    return handler(connection, inserter, run_id, event)


def _run_started(connection: Connection, inserter: LogInserter, run_id: int, event: Mapping[str, Any]) -> None:
    return None  # the claim started it


def _step_started(connection: Connection, inserter: LogInserter, run_id: int, event: Mapping[str, Any]) -> None:
    values = {"status": "running", "started_at": float(event["at"]), "finished_at": None}
    run_queries.update_step(connection, run_id, str(event["step_id"]), int(event["attempt"]), values)


def _step_logs(connection: Connection, inserter: LogInserter, run_id: int, event: Mapping[str, Any]) -> None:
    lines: list[LogLineTuple] = [
        (str(step_id), int(attempt), int(seq), str(stream), float(at), str(text))
        for step_id, attempt, seq, stream, at, text in event["lines"]
    ]
    inserter.insert(connection, run_id, lines)


def _step_finished(connection: Connection, inserter: LogInserter, run_id: int, event: Mapping[str, Any]) -> None:
    status = str(event["status"])
    run_queries.check_step_status(status)
    extra = event.get("extra") or None
    values = {
        "status": status,
        "exit_code": event.get("exit_code"),
        "outputs": clean_json(dict(event.get("outputs") or {})),
        "error": clean_optional(event.get("error")),
        "started_at": float(event["started_at"]),
        "finished_at": float(event["finished_at"]),
        "extra": clean_json(extra),
    }
    step_id, attempt = str(event["step_id"]), int(event["attempt"])
    run_queries.update_step(connection, run_id, step_id, attempt, values)
    add_llm_usage(connection, run_id, step_id, attempt, llm_calls(extra), float(event["finished_at"]))


def _step_skipped(connection: Connection, inserter: LogInserter, run_id: int, event: Mapping[str, Any]) -> None:
    status = str(event.get("status", "skipped"))
    if status not in ("skipped", "cancelled"):
        raise ValueError(f"a step that never started is skipped or cancelled, not {status!r}")
    values = {"status": status, "reason": clean_optional(event.get("reason")), "finished_at": float(event["at"])}
    run_queries.update_latest_step(connection, run_id, str(event["step_id"]), values)


def _step_reused(connection: Connection, inserter: LogInserter, run_id: int, event: Mapping[str, Any]) -> None:
    values = {
        "status": "success",
        "reused": True,
        "outputs": clean_json(dict(event.get("outputs") or {})),
        "exit_code": event.get("exit_code"),
        "finished_at": float(event["at"]),
    }
    run_queries.update_latest_step(connection, run_id, str(event["step_id"]), values)


def _run_finished(connection: Connection, inserter: LogInserter, run_id: int, event: Mapping[str, Any]) -> str:
    status = str(event["status"])
    run_queries.finish_run(connection, run_id, status, event.get("error"), float(event["at"]))
    return status


_HANDLERS: Final[dict[str, Callable[[Connection, LogInserter, int, Mapping[str, Any]], str | None]]] = {
    "run_started": _run_started,
    "step_started": _step_started,
    "step_logs": _step_logs,
    "step_finished": _step_finished,
    "step_skipped": _step_skipped,
    "step_reused": _step_reused,
    "run_finished": _run_finished,
}


def llm_calls(extra: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    """The provider calls an llm step reports in `extra["llm"]["calls"]` (as `plue.runners.local.llm_calls`)."""
    details = extra.get("llm") if extra else None
    calls = details.get("calls") if isinstance(details, Mapping) else None
    if not isinstance(calls, list):
        return []
    return [call for call in calls if isinstance(call, Mapping)]


def _type_of(event: object) -> str:
    kind = event.get("type") if isinstance(event, Mapping) else None
    return kind if isinstance(kind, str) else "?"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return f"{exc.args[0]!r} is missing"
    return str(exc) or type(exc).__name__


# --- lost attempts and the runner's status --------------------------------------------------------------


def lose_attempt(
    connection: Connection, attempt: Row[Any], runner_name: str, why: str, at: float
) -> LostAttempt | None:
    """End a running attempt `lost` because of `why` (e.g. "runner X was lost"); its run is queued again for
    its next attempt, or finished. None if the attempt was no longer running."""
    ended = connection.execute(
        update(run_attempts)
        .where(run_attempts.c.id == attempt.id, run_attempts.c.status == "running")
        .values(status="lost", ended_at=at, error=why)
    )
    if ended.rowcount == 0:
        return None
    run = connection.execute(
        select(runs.c.status, runs.c.owner, runs.c.cancel_requested, runs.c.max_attempts)
        .where(runs.c.id == attempt.run_id)
        .with_for_update()
    ).first()
    requeued = False
    reason = why
    if run is not None and run.status == "running" and run.owner == runner_owner(attempt.runner_id):
        run_changed(connection, attempt.run_id)
        _cancel_unfinished_steps(connection, attempt.run_id, why, at)
        if run.cancel_requested:
            run_queries.finish_run(connection, attempt.run_id, "cancelled", f"{why} while the run was cancelled", at)
        elif attempt.number < run.max_attempts:
            connection.execute(
                update(runs).where(runs.c.id == attempt.run_id).values(status="queued", owner=None, error=None)
            )
            requeued = True
            reason = f"{why}; the run is queued again (attempt {attempt.number + 1} of {run.max_attempts})"
        else:
            reason = f"{why} (attempt {attempt.number} of {run.max_attempts})"
            run_queries.finish_run(connection, attempt.run_id, "failed", reason, at)
    return LostAttempt(
        attempt_id=attempt.id,
        run_id=attempt.run_id,
        number=attempt.number,
        runner_id=attempt.runner_id,
        runner_name=runner_name,
        requeued=requeued,
        reason=reason,
    )


def _cancel_unfinished_steps(connection: Connection, run_id: int, why: str, at: float) -> None:
    # Running steps were cut short (their lines stay); pending ones never ran in this attempt.
    connection.execute(
        update(steps)
        .where(steps.c.run_id == run_id, steps.c.status == "running")
        .values(status="cancelled", error=why, reason=why, finished_at=at)
    )
    connection.execute(
        update(steps)
        .where(steps.c.run_id == run_id, steps.c.status == "pending")
        .values(status="cancelled", reason=why, finished_at=at)
    )


def running_attempts(connection: Connection, runner_id: str) -> list[Row[Any]]:
    query = (
        select(run_attempts)
        .where(run_attempts.c.runner_id == runner_id, run_attempts.c.status == "running")
        .order_by(run_attempts.c.id)
    )
    return list(connection.execute(query).all())


def refresh_runner(connection: Connection, runner_id: str, at: float) -> None:
    """A live runner's status from its attempts: draining (asked to), busy (running one) or idle."""
    runner = connection.execute(
        select(runners.c.status, runners.c.drain, runners.c.idle_since).where(runners.c.id == runner_id)
    ).first()
    if runner is None or runner.status in GONE_STATUSES:
        return
    busy = _running_count(connection, runner_id) > 0
    status = "draining" if runner.drain else "busy" if busy else "idle"
    idle_since = None if busy else runner.idle_since if runner.idle_since is not None else at
    connection.execute(update(runners).where(runners.c.id == runner_id).values(status=status, idle_since=idle_since))


# --- reading -----------------------------------------------------------------------------------------------


def attempts(connection: Connection, run_id: int) -> list[AttemptRecord]:
    if not 1 <= run_id <= MAX_ID:
        return []
    return _attempt_records(connection, run_attempts.c.run_id == run_id)


def get_attempt(connection: Connection, attempt_id: int) -> AttemptRecord | None:
    if not 1 <= attempt_id <= MAX_ID:
        return None
    found = _attempt_records(connection, run_attempts.c.id == attempt_id)
    return found[0] if found else None


def _attempt_records(connection: Connection, condition: ColumnElement[bool]) -> list[AttemptRecord]:
    query = (
        select(run_attempts, runners.c.name)
        .select_from(run_attempts.outerjoin(runners, runners.c.id == run_attempts.c.runner_id))
        .where(condition)
        .order_by(run_attempts.c.run_id, run_attempts.c.number)
    )
    return [
        AttemptRecord(
            id=row.id,
            run_id=row.run_id,
            number=row.number,
            runner_id=row.runner_id,
            runner_name=row.name,
            status=row.status,
            claimed_at=row.claimed_at,
            ended_at=row.ended_at,
            acked_seq=row.acked_seq,
            error=row.error,
        )
        for row in connection.execute(query)
    ]
