"""Cron schedules: each tick of each `Trigger.on_schedule` of a default branch queues one run, once.

The index of schedules comes from the workflows at the head of each repository's
default branch. It is rebuilt when that head moves: checked every `check_seconds`,
and at once after `invalidate(repository)` (a push to the default branch).

A schedule's key is ``repository:workflow path:cron:tz``, so editing a workflow
keeps its ticks as long as its cron stays the same. For each due tick the workflow
is evaluated with a `schedule` event at the default branch's head, then
`store.fire_schedule_run(key, tick, run)` fires the tick and queues its run in one
transaction — for one caller only, across server processes and restarts (the others
evaluated for nothing, which is cheap next to losing or doubling a tick).

Ticks missed while no server ran (since the last tick the store knows, or since the
schedule was first seen by this process) follow `config.catch_up`: ``latest`` fires
only the most recent one, ``all`` every one (at most `MAX_CATCH_UP`), ``none`` none
(a tick counts as on time for `ON_TIME_SECONDS` after it).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from plue.events import EventError, build_context_data
from plue.events.synthetic import schedule_event
from plue.registry import Registry
from plue.sandbox import Evaluator
from plue.server.config import ServerConfig
from plue.server.ingest import CACHE_DIR_NAME
from plue.server.mirrors import Mirror, MirrorError
from plue.store import NewRun, Store, StoreError

CHECK_SECONDS: Final = 30.0  # how often each default branch head is checked for a move
ON_TIME_SECONDS: Final = 90.0  # a tick this recent is not "missed" (catch_up = "none")
MAX_CATCH_UP: Final = 1000  # ticks fired at once with catch_up = "all"
MIN_SLEEP_SECONDS: Final = 0.5
ERROR_RETRY_SECONDS: Final = 10.0

log = logging.getLogger(__name__)


class MirrorLookup(Protocol):
    def get(self, name: str) -> Mirror | None: ...


@dataclass(frozen=True)
class Schedule:
    key: str  # repository:path:cron:tz
    repository: str
    workflow_path: str
    cron: str
    tz: str


@dataclass
class _Index:
    sha: str
    schedules: list[Schedule]
    checked_at: float  # clock time of the last head check


class Scheduler:
    """Fires the cron schedules of the configured repositories. Drive it with `run_once(now)`, or `start()`
    its thread (which calls `run_once` with `clock()` whenever a tick or a head check is due)."""

    def __init__(
        self,
        store: Store,
        config: ServerConfig,
        mirrors: MirrorLookup,
        clock: Callable[[], float] = time.time,
        *,
        evaluator: Evaluator | None = None,
        on_queued: Callable[[list[int]], None] | None = None,
        check_seconds: float = CHECK_SECONDS,
    ) -> None:
        self.store = store
        self.config = config
        self.mirrors = mirrors
        self.clock = clock
        self.evaluator = evaluator
        self.on_queued = on_queued
        self.check_seconds = check_seconds
        self.cache_dir = config.data_dir / CACHE_DIR_NAME
        self._indexes: dict[str, _Index] = {}
        self._first_seen: dict[str, float] = {}  # schedule key -> when this process first saw it
        self._invalid: set[str] = set()
        self._lock = threading.Lock()  # guards _invalid; run_once itself runs on one thread at a time
        self._run_lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # --- control ----------------------------------------------------------------------

    def invalidate(self, repository: str, branch: str | None = None, sha: str | None = None) -> None:
        """The repository's default branch may have moved: rebuild its index at the next `run_once`.

        `branch` and `sha` (the pushed branch and commit, as `Ingestor.on_push` gives them): other
        branches change nothing, nor does a push of the commit the index was built from."""
        repo = self.config.repositories.get(repository)
        if repo is None or (branch is not None and branch != repo.default_branch):
            return
        index = self._indexes.get(repository)
        if sha is not None and index is not None and index.sha == sha:
            return
        with self._lock:
            self._invalid.add(repository)
        self._wake.set()

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the scheduler is already started")
        self._thread = threading.Thread(target=self._loop, name="plue-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def schedules(self) -> list[Schedule]:
        """The schedules of the last index of every repository."""
        return [schedule for index in self._indexes.values() for schedule in index.schedules]

    # --- one pass -----------------------------------------------------------------------

    def run_once(self, now: float | None = None) -> list[int]:
        """Refresh the indexes that need it, fire every due tick; the ids of the runs queued."""
        now = self.clock() if now is None else now
        queued: list[int] = []
        with self._run_lock:
            for name in sorted(self.config.repositories):
                known = self._indexes.get(name)
                index = self._refresh(name, now)
                if index is None:
                    continue
                fired: list[int] = []
                for schedule in index.schedules:
                    fired += self._fire_due(schedule, index.sha, now)
                queued += fired
                if index is not known:  # said after its first firing pass, so a log reader knows both happened
                    log.info(
                        "%s at %s: %d schedule(s) indexed, %d run(s) queued for due ticks",
                        name,
                        index.sha[:12],
                        len(index.schedules),
                        len(fired),
                    )
        if queued and self.on_queued is not None:
            self.on_queued(queued)
        return queued

    def next_due(self, now: float) -> float:
        """When `run_once` next has something to do: the next tick, or the next head check."""
        due = now + self.check_seconds
        for index in self._indexes.values():
            due = min(due, index.checked_at + self.check_seconds)
            for schedule in index.schedules:
                due = min(due, _next_tick(schedule, now))
        return due

    def _refresh(self, name: str, now: float) -> _Index | None:
        index = self._indexes.get(name)
        with self._lock:
            invalid = name in self._invalid
            self._invalid.discard(name)
        if index is not None and not invalid and now - index.checked_at < self.check_seconds:
            return index
        mirror = self.mirrors.get(name)
        if mirror is None:
            return None
        try:
            sha = mirror.resolve(mirror.config.default_branch)
            if index is not None and index.sha == sha:
                index.checked_at = now
                return index
            index = _Index(sha, self._read_schedules(name, mirror.checkout(sha)), now)
        except MirrorError as exc:
            log.warning("schedules of %s not refreshed: %s", name, exc)
            if index is not None:
                index.checked_at = now  # keep the old index; try again at the next check
            return index
        for schedule in index.schedules:
            self._first_seen.setdefault(schedule.key, now)
        self._indexes[name] = index
        return index

    def _read_schedules(self, name: str, tree: Path) -> list[Schedule]:
        schedules: list[Schedule] = []
        with Registry(tree, self.evaluator, self.cache_dir) as registry:
            for entry in registry.scan():
                if not entry.ok:
                    continue
                for trigger in entry.triggers:
                    if trigger.get("event") != "schedule":
                        continue
                    cron, tz = " ".join(str(trigger["cron"]).split()), str(trigger.get("tz") or "UTC")
                    key = f"{name}:{entry.path}:{cron}:{tz}"
                    schedules.append(Schedule(key, name, entry.path, cron, tz))
        return schedules

    def _fire_due(self, schedule: Schedule, sha: str, now: float) -> list[int]:
        try:
            since = self.store.last_schedule_tick(schedule.key)
        except StoreError as exc:
            log.warning("schedule %s: %s", schedule.key, exc)
            return []
        if since is None:
            since = self._first_seen.get(schedule.key, now)
        ticks = self._chosen(_ticks_between(schedule, since, now), now)
        queued = []
        for tick in ticks:
            try:
                run = self._new_run(schedule, sha, tick)
                if run is None:
                    self.store.fire_schedule(schedule.key, tick)  # a tick that cannot run is spent, not retried
                    continue
                # The tick and its run are stored together: a crash between firing and queuing cannot
                # lose the run, and only the first process to fire the tick queues it.
                run_id = self.store.fire_schedule_run(schedule.key, tick, run)
                if run_id is None:
                    continue  # another process (or an earlier pass) fired it
                queued.append(run_id)
                log.info("schedule %s: tick %s queued run %d", schedule.key, _iso(tick), run_id)
            except StoreError as exc:
                log.warning("schedule %s at %s: %s", schedule.key, tick, exc)
        return queued

    def _chosen(self, ticks: list[float], now: float) -> list[float]:
        policy = self.config.catch_up
        if not ticks:
            return []
        if policy == "all":
            return ticks
        if policy == "none":
            return [tick for tick in ticks[-1:] if now - tick <= ON_TIME_SECONDS]
        return ticks[-1:]

    def _new_run(self, schedule: Schedule, sha: str, tick: float) -> NewRun | None:
        """The run of the workflow evaluated for the tick; None (logged) if it cannot be evaluated."""
        repo = self.config.repositories[schedule.repository]
        mirror = self.mirrors.get(schedule.repository)
        try:
            if mirror is None:
                raise MirrorError(f"repository {schedule.repository} has no mirror")
            event = schedule_event(
                schedule.cron,
                datetime.fromtimestamp(tick, UTC),
                schedule.repository,
                default_branch=repo.default_branch,
                tz=schedule.tz,
            )
            event = replace(event, sha=sha)
            ctx = build_context_data(event)
            with Registry(mirror.checkout(sha), self.evaluator, self.cache_dir) as registry:
                plan, problems = registry.evaluate_workflow(schedule.workflow_path, ctx)
        except (MirrorError, EventError) as exc:
            log.warning("schedule %s: no run queued: %s", schedule.key, exc)
            return None
        if plan is None or problems:
            log.warning("schedule %s: no run queued: %s", schedule.key, "; ".join(problems) or "no plan")
            return None
        return NewRun.from_plan(
            schedule.workflow_path,
            plan,
            event_name="schedule",
            event=ctx["event"],
            inputs=ctx["inputs"],
            repository=schedule.repository,
            sha=sha,
            ref=event.ref,
            branch=repo.default_branch,
        )

    # --- the thread ---------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once(self.clock())
                delay = self.next_due(self.clock()) - self.clock()
            except Exception:  # the scheduler must outlive any one failure
                log.exception("the scheduler failed; trying again in %s s", ERROR_RETRY_SECONDS)
                delay = ERROR_RETRY_SECONDS
            self._wake.wait(max(MIN_SLEEP_SECONDS, delay))
            self._wake.clear()


def _iso(tick: float) -> str:
    return datetime.fromtimestamp(tick, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _ticks_between(schedule: Schedule, after: float, until: float, limit: int = MAX_CATCH_UP) -> list[float]:
    """The schedule's ticks in (after, until], oldest first: the latest `limit` of them.

    Walked backwards from `until`, so a server that was down for a year does not walk every minute of it."""
    # Cron has minute resolution: a second past `until` makes a tick at `until` itself the first one back.
    iterator = croniter(schedule.cron, datetime.fromtimestamp(until + 1, _zone(schedule.tz)))
    ticks: list[float] = []
    while len(ticks) < limit:
        tick = float(iterator.get_prev(float))
        if tick <= after:
            break
        ticks.append(tick)
    return ticks[::-1]


def _next_tick(schedule: Schedule, now: float) -> float:
    return float(croniter(schedule.cron, datetime.fromtimestamp(now, _zone(schedule.tz))).get_next(float))
