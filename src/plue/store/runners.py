"""Registered runner agents: registration, heartbeats, drains, the reaper of silent ones, the queue's demand.
Each function runs inside the caller's transaction.

A runner registers (a new id each time it starts, or after it was declared lost), then heartbeats. Its
status follows its attempts (`attempts.refresh_runner`): `idle`, `busy`, or `draining` once a drain was
asked for; `lost` when the reaper found its last heartbeat older than `lost_after` seconds, `offline`
once it deregistered. A lost or offline runner is never heard again: its heartbeats answer `lost` (abort
everything, register again), its claims are refused, its attempts' reports are fenced.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Final

from sqlalchemy import Connection, Row, func, insert, select, update

from plue.plan.arguments import LABEL_RE
from plue.store.attempts import GONE_STATUSES, RunnerGone, lose_attempt, refresh_runner, running_attempts
from plue.store.models import run_attempts, runners, runs
from plue.store.records import HeartbeatAnswer, LostAttempt, RunnerRecord
from plue.store.values import clean_json, clean_optional, clean_text

MAX_NAME_CHARS: Final = 200
MAX_RUNNER_LABELS: Final = 64
MAX_CAPACITY: Final = 64
MAX_HOST_KEYS: Final = 32
MAX_HOST_VALUE_CHARS: Final = 500


# --- registration ----------------------------------------------------------------------------------------


def register(
    connection: Connection,
    *,
    name: str,
    labels: Sequence[str],
    version: str,
    host: Mapping[str, Any],
    capacity: int,
    pool: str | None,
    token_name: str | None,
    at: float,
) -> RunnerRecord:
    """A new runner, idle; raises ValueError (one sentence) for a bad name, label, capacity or host."""
    name = _name(name, "a runner's name")
    checked_labels = check_labels(labels)
    if isinstance(capacity, bool) or not isinstance(capacity, int) or not 1 <= capacity <= MAX_CAPACITY:
        raise ValueError(f"a runner's capacity is a whole number from 1 to {MAX_CAPACITY}, not {capacity!r}")
    if not isinstance(version, str) or len(version) > MAX_NAME_CHARS:
        raise ValueError(f"a runner's version is a string of at most {MAX_NAME_CHARS} characters")
    runner_id = uuid.uuid4().hex
    connection.execute(
        insert(runners).values(
            id=runner_id,
            name=name,
            labels=checked_labels,
            version=clean_text(version),
            host=_host(host),
            capacity=capacity,
            status="idle",
            drain=False,
            pool=None if pool is None else _name(pool, "a pool's name"),
            token_name=clean_optional(token_name),
            registered_at=at,
            last_heartbeat=at,
            last_claim_at=None,
            idle_since=at,
        )
    )
    record = get(connection, runner_id)
    assert record is not None  # inserted just now
    return record


def check_labels(labels: Sequence[str]) -> list[str]:
    """The labels, sorted and without duplicates; ValueError for one that is not a label."""
    if isinstance(labels, str) or not isinstance(labels, Sequence):
        raise ValueError("a runner's labels are a list of strings")
    for label in labels:
        if not isinstance(label, str) or not LABEL_RE.match(label):
            raise ValueError(
                f"{label!r:.70} is not a runner label (letters, digits and _ . : / -, up to 63 characters)"
            )
    unique = sorted(set(labels))
    if len(unique) > MAX_RUNNER_LABELS:
        raise ValueError(f"a runner has at most {MAX_RUNNER_LABELS} labels")
    return unique


def _name(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_NAME_CHARS:
        raise ValueError(f"{what} is a non-empty string of at most {MAX_NAME_CHARS} characters")
    return clean_text(value.strip())


def _host(host: Mapping[str, Any]) -> dict[str, Any]:
    """The host facts a runner reports, kept small: strings (cut), numbers, booleans and nulls."""
    if not isinstance(host, Mapping):
        raise ValueError("a runner's host facts are an object")
    facts: dict[str, Any] = {}
    for key, value in list(host.items())[:MAX_HOST_KEYS]:
        if not isinstance(key, str):
            continue
        if isinstance(value, str):
            value = value[:MAX_HOST_VALUE_CHARS]
        elif not (value is None or isinstance(value, bool | int | float)):
            value = str(value)[:MAX_HOST_VALUE_CHARS]
        facts[key[:MAX_NAME_CHARS]] = value
    cleaned: dict[str, Any] = clean_json(facts)
    return cleaned


# --- heartbeats, drains, leaving -----------------------------------------------------------------------


def heartbeat(
    connection: Connection, runner_id: str, attempt_ids: Sequence[int], at: float, orphan_after: float | None
) -> tuple[HeartbeatAnswer, list[LostAttempt]]:
    """Note the runner is alive and tell it what to cancel and abort.

    `attempt_ids`: the attempts the runner holds. Its running attempts it does not hold, claimed more
    than `orphan_after` seconds ago, are lost (a claim whose answer never reached it); they are returned.
    """
    runner = connection.execute(select(runners).where(runners.c.id == runner_id).with_for_update()).first()
    if runner is None:
        raise RunnerGone(f"no runner {runner_id}: register again")
    reported = {int(attempt_id) for attempt_id in attempt_ids}
    if runner.status in GONE_STATUSES:
        return HeartbeatAnswer(runner.status, [], sorted(reported), bool(runner.drain)), []
    connection.execute(update(runners).where(runners.c.id == runner_id).values(last_heartbeat=at))
    running = running_attempts(connection, runner_id)
    lost: list[LostAttempt] = []
    for attempt in running:
        if attempt.id not in reported and orphan_after is not None and attempt.claimed_at <= at - orphan_after:
            why = f"runner {runner.name} no longer had the run"
            gone = lose_attempt(connection, attempt, runner.name, why, at)
            if gone is not None:
                lost.append(gone)
    lost_ids = {item.attempt_id for item in lost}
    live = [attempt for attempt in running if attempt.id not in lost_ids]
    cancelled = _cancel_requested(connection, [attempt.run_id for attempt in live])
    refresh_runner(connection, runner_id, at)
    answer = HeartbeatAnswer(
        status=str(connection.execute(select(runners.c.status).where(runners.c.id == runner_id)).scalar_one()),
        cancel=sorted(attempt.id for attempt in live if attempt.run_id in cancelled),
        abort=sorted(reported - {attempt.id for attempt in live}),
        drain=bool(runner.drain),
    )
    return answer, lost


def _cancel_requested(connection: Connection, run_ids: list[int]) -> set[int]:
    if not run_ids:
        return set()
    query = select(runs.c.id).where(runs.c.id.in_(run_ids), runs.c.cancel_requested.is_(True))
    return {int(run_id) for run_id in connection.execute(query).scalars()}


def drain(connection: Connection, runner_id: str, at: float) -> bool:
    """Ask a live runner to finish what it runs and take nothing new; False if it is unknown or gone."""
    result = connection.execute(
        update(runners)
        .where(runners.c.id == runner_id, runners.c.status.not_in(GONE_STATUSES))
        .values(drain=True, status="draining")
    )
    return result.rowcount > 0


def deregister(connection: Connection, runner_id: str, at: float) -> list[LostAttempt]:
    """The runner left (`offline`): attempts it still had are lost now. Idempotent."""
    runner = connection.execute(select(runners).where(runners.c.id == runner_id).with_for_update()).first()
    if runner is None or runner.status == "offline":
        return []
    lost = _lose_all(connection, runner, f"runner {runner.name} left while running it", at)
    connection.execute(update(runners).where(runners.c.id == runner_id).values(status="offline", idle_since=None))
    return lost


def reap(connection: Connection, lost_after: float, at: float) -> list[LostAttempt]:
    """Declare `lost` the live runners silent for more than `lost_after` seconds, and their attempts; their
    runs are queued again or finished (see `attempts.lose_attempt`). Idempotent."""
    silent = connection.execute(
        select(runners)
        .where(runners.c.status.not_in(GONE_STATUSES), runners.c.last_heartbeat < at - lost_after)
        .order_by(runners.c.last_heartbeat)
        .with_for_update(skip_locked=True)  # another server's reaper has those
    ).all()
    lost: list[LostAttempt] = []
    for runner in silent:
        connection.execute(update(runners).where(runners.c.id == runner.id).values(status="lost", idle_since=None))
        lost.extend(_lose_all(connection, runner, f"runner {runner.name} was lost", at))
    return lost


def _lose_all(connection: Connection, runner: Row[Any], why: str, at: float) -> list[LostAttempt]:
    lost = [
        lose_attempt(connection, attempt, runner.name, why, at) for attempt in running_attempts(connection, runner.id)
    ]
    return [item for item in lost if item is not None]


# --- reading ---------------------------------------------------------------------------------------------


def get(connection: Connection, runner_id: str) -> RunnerRecord | None:
    row = connection.execute(select(runners).where(runners.c.id == runner_id)).first()
    return None if row is None else _records(connection, [row])[0]


def list_runners(connection: Connection, include_gone: bool) -> list[RunnerRecord]:
    """Runners by registration time; lost and offline ones only with `include_gone`."""
    query = select(runners).order_by(runners.c.registered_at, runners.c.name, runners.c.id)
    if not include_gone:
        query = query.where(runners.c.status.not_in(GONE_STATUSES))
    return _records(connection, connection.execute(query).all())


def _records(connection: Connection, rows: Sequence[Row[Any]]) -> list[RunnerRecord]:
    current: dict[str, list[int]] = {row.id: [] for row in rows}
    if current:
        query = (
            select(run_attempts.c.runner_id, run_attempts.c.run_id)
            .where(run_attempts.c.runner_id.in_(list(current)), run_attempts.c.status == "running")
            .order_by(run_attempts.c.id)
        )
        for runner_id, run_id in connection.execute(query):
            current[runner_id].append(run_id)
    return [
        RunnerRecord(
            id=row.id,
            name=row.name,
            labels=tuple(row.labels or ()),
            version=row.version,
            host=dict(row.host or {}),
            capacity=row.capacity,
            status=row.status,
            drain=bool(row.drain),
            pool=row.pool,
            registered_at=row.registered_at,
            last_heartbeat=row.last_heartbeat,
            current_runs=tuple(current[row.id]),
            idle_since=row.idle_since,
            token_name=row.token_name,
            last_claim_at=row.last_claim_at,
        )
        for row in rows
    ]


def queue_demand(connection: Connection) -> dict[tuple[str, ...], int]:
    """Queued runs (not being cancelled) per set of labels they need; () for runs any runner may take."""
    query = (
        select(runs.c.runs_on, func.count())
        .where(runs.c.status == "queued", runs.c.cancel_requested.is_(False))
        .group_by(runs.c.runs_on)
    )
    demand: dict[tuple[str, ...], int] = {}
    for labels, count in connection.execute(query):
        key = tuple(sorted(labels or ()))
        demand[key] = demand.get(key, 0) + int(count)
    return demand
