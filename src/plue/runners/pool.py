"""The warm pool: per pool, keep `min_idle` runners idle, grow toward `max_runners` while runs wait, retire idle ones.

    survey(pools, runners, backend_runners, demand, now)   each runner's state and each pool's counts
    decide(pools, runners, backend_runners, demand, now)   what to do: create / drain / delete, each with its reason
    PoolController                                         the loop: read, decide, apply, record (`status()`)

Both functions are pure: the store's runners, the backend's runners and the queue are read
once per tick and passed in, so every decision can be tested with plain data.

Who counts in a pool: the runners registered with `pool=<name>` (`plue runner --pool NAME`)
that are idle, busy or draining, and the backend's runners that have not registered yet
(pending: a process starting, a pod being scheduled). Runners started by hand with `--pool`
count too, but only the backend's own are ever retired. A registration made with a pool
token (`runner:<its name>`) whose runner the backend no longer has does not count: that
runner crashed or was deleted, and waits to be declared lost.

Decisions:
- create: while the queued runs a pool can serve (their labels ⊆ the pool's) outnumber its idle
  and pending runners, and to keep `min_idle` idle or pending — never beyond `max_runners`.
  A queued run is counted once: it goes to the most general pool that fits (fewest labels),
  so a general run does not start a GPU runner while a plain pool has room.
- drain: an idle runner idle longer than `idle_timeout_seconds`, beyond `min_idle` and beyond
  what the queue needs; an idle runner above `max_runners`; any runner of a pool no longer
  configured. Draining happens in the store, so the runner can claim nothing more.
- delete: a drained runner the store shows holding no run (one tick after its drain, so a claim
  made just before the drain is seen), a runner that exited, a runner whose registration is lost
  or offline, one that did not register within `start_timeout` seconds.
Each runner gets its own token, `runner:<name>` (scope runner), made before the backend creates
it and revoked after the backend deleted it. A runner that exits without ever registering makes
the controller hold back creations in its pool, doubling from `HOLD_SECONDS` up to `MAX_HOLD_SECONDS`,
so a broken runner command or an unreachable server URL does not spawn a runner every tick.

One controller per backend: two servers on one database must not both run one for the same pools.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Final, Literal, Protocol

from plue.runners.backends import BackendRunner, RunnerBackend, RunnerSpec

KEPT_DECISIONS: Final = 200
START_TIMEOUT_SECONDS: Final = 600.0  # a runner not registered by then is deleted (image pulls can be slow)
HOLD_SECONDS: Final = 5.0
MAX_HOLD_SECONDS: Final = 300.0
TOKEN_SCOPE: Final = "runner"
GONE_STATUSES: Final = frozenset({"lost", "offline"})

Action = Literal["create", "drain", "delete"]
RunnerState = Literal["pending", "idle", "busy", "draining", "exited", "lost", "offline"]

log = logging.getLogger(__name__)


class PoolSpec(Protocol):
    """One pool's bounds (`plue.server.config.PoolSpec`, `[[pool.pools]]`; the server's floor is above this one)."""

    @property
    def name(self) -> str: ...
    @property
    def labels(self) -> tuple[str, ...]: ...
    @property
    def min_idle(self) -> int: ...
    @property
    def max_runners(self) -> int: ...
    @property
    def idle_timeout_seconds(self) -> float: ...


class PoolSettings(Protocol):
    """What the controller reads of `plue.server.config.PoolSettings` (`[pool]`)."""

    @property
    def server_url(self) -> str | None: ...
    @property
    def interval_seconds(self) -> float: ...
    @property
    def pools(self) -> Sequence[PoolSpec]: ...


class RunnerView(Protocol):
    """What the controller reads of a registered runner (`plue.store`'s `RunnerRecord` has it all)."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def drain(self) -> bool: ...
    @property
    def pool(self) -> str | None: ...
    @property
    def registered_at(self) -> float: ...
    @property
    def current_runs(self) -> Sequence[int]: ...
    @property
    def idle_since(self) -> float | None: ...
    @property
    def token_name(self) -> str | None: ...  # the name of the token it registered with


class PoolStore(Protocol):
    """The store as the controller uses it (`plue.store.Store`)."""

    def list_runners(self, include_gone: bool = False) -> Sequence[RunnerView]: ...
    def queue_demand(self) -> Mapping[tuple[str, ...], int]: ...
    def drain_runner(self, runner_id: str, /) -> bool: ...
    def create_token(self, name: str, scope: str, /) -> str: ...
    def revoke_token(self, name: str, /) -> bool: ...


def token_name(runner: str) -> str:
    return f"runner:{runner}"


@dataclass(frozen=True)
class PoolRunner:
    """One runner of a pool as the controller sees it: the backend's view and the store's, joined by name."""

    name: str
    pool: str
    state: RunnerState
    owned: bool  # the backend's (else started by hand with --pool: counted, never retired)
    phase: str | None = None  # the backend's phase
    runner_id: str | None = None  # its registration, once it registered
    idle_since: float | None = None
    current_runs: tuple[int, ...] = ()
    created_at: float | None = None
    detail: str | None = None


@dataclass(frozen=True)
class PoolCounts:
    name: str
    labels: tuple[str, ...]
    min_idle: int
    max_runners: int
    idle_timeout_seconds: float
    idle: int = 0
    busy: int = 0
    pending: int = 0
    draining: int = 0
    queued: int = 0  # queued runs this pool could serve (other pools may serve them too)

    @property
    def total(self) -> int:
        return self.idle + self.busy + self.pending + self.draining


@dataclass(frozen=True)
class Survey:
    pools: tuple[PoolCounts, ...]
    runners: tuple[PoolRunner, ...]
    unserved: dict[tuple[str, ...], int]  # queued runs whose labels no pool offers


@dataclass(frozen=True)
class Decision:
    action: Action
    pool: str
    reason: str
    runner: str | None = None  # create: None (the controller names it)
    runner_id: str | None = None  # drain: the registration to drain
    failed_start: bool = False  # delete of a runner that never registered: hold back creations


def survey(
    pools: Sequence[PoolSpec],
    runners: Iterable[RunnerView],
    backend_runners: Iterable[BackendRunner],
    demand: Mapping[tuple[str, ...], int],
    now: float,
) -> Survey:
    """The runners of every pool (the backend's, and the registered ones of configured pools) and the counts."""
    registered = _by_name(runners)
    joined: list[PoolRunner] = []
    known: set[str] = set()
    for backend_runner in backend_runners:
        known.add(backend_runner.name)
        joined.append(_join(backend_runner, registered.get(backend_runner.name)))
    configured = {spec.name for spec in pools}
    for name, record in sorted(registered.items()):
        if name in known or record.pool not in configured or record.status in GONE_STATUSES:
            continue
        # Made by a pool (its token says so) but no longer the backend's: it crashed or was deleted and is
        # not declared lost yet. Counting it would delay its replacement until the reaper gets to it.
        if record.token_name != token_name(record.name):
            joined.append(_external(record))
    counts = []
    for spec in pools:
        mine = [runner for runner in joined if runner.pool == spec.name]
        counts.append(
            PoolCounts(
                name=spec.name,
                labels=spec.labels,
                min_idle=spec.min_idle,
                max_runners=spec.max_runners,
                idle_timeout_seconds=spec.idle_timeout_seconds,
                idle=sum(runner.state == "idle" for runner in mine),
                busy=sum(runner.state == "busy" for runner in mine),
                pending=sum(runner.state == "pending" for runner in mine),
                draining=sum(runner.state == "draining" for runner in mine),
                queued=sum(count for labels, count in demand.items() if _serves(spec, labels)),
            )
        )
    unserved = {labels: count for labels, count in demand.items() if not any(_serves(s, labels) for s in pools)}
    return Survey(tuple(counts), tuple(joined), unserved)


def decide(
    pools: Sequence[PoolSpec],
    runners: Iterable[RunnerView],
    backend_runners: Iterable[BackendRunner],
    demand: Mapping[tuple[str, ...], int],
    now: float,
    *,
    start_timeout: float = START_TIMEOUT_SECONDS,
) -> list[Decision]:
    """What the pool controller should do now: deletes first, then drains, then creates."""
    seen = survey(pools, runners, backend_runners, demand, now)
    specs = {spec.name: spec for spec in pools}
    deletes: list[Decision] = []
    drains: list[Decision] = []
    removed: set[str] = set()
    for runner in seen.runners:
        decision = _cleanup(runner, specs.get(runner.pool), now, start_timeout)
        if decision is not None:
            (deletes if decision.action == "delete" else drains).append(decision)
            removed.add(runner.name)
    live = [runner for runner in seen.runners if runner.name not in removed]
    plans = {spec.name: _Capacity.of(spec, [r for r in live if r.pool == spec.name]) for spec in pools}
    _allocate(pools, plans, demand)
    creates: list[Decision] = []
    for spec in pools:
        plan = plans[spec.name]
        creates += plan.creations()
        drains += plan.retirements(now)
    return deletes + drains + creates


def _by_name(runners: Iterable[RunnerView]) -> dict[str, RunnerView]:
    """One registration per name: a live one over a lost or offline one, then the latest.

    An agent that was declared lost registers again under the same name with a new id.
    """
    chosen: dict[str, RunnerView] = {}
    for record in runners:
        current = chosen.get(record.name)
        if current is None or _rank(record) > _rank(current):
            chosen[record.name] = record
    return chosen


def _rank(record: RunnerView) -> tuple[bool, float]:
    return (record.status not in GONE_STATUSES, record.registered_at)


def _join(backend_runner: BackendRunner, record: RunnerView | None) -> PoolRunner:
    runner = PoolRunner(
        name=backend_runner.name,
        pool=backend_runner.pool,
        state="exited" if backend_runner.phase == "exited" else "pending",
        owned=True,
        phase=backend_runner.phase,
        created_at=backend_runner.created_at,
        detail=backend_runner.detail,
    )
    if record is None:
        return runner
    return replace(
        runner,
        state=runner.state if runner.state == "exited" else _registered_state(record),
        runner_id=record.id,
        idle_since=record.idle_since,
        current_runs=tuple(record.current_runs),
    )


def _external(record: RunnerView) -> PoolRunner:
    return PoolRunner(
        name=record.name,
        pool=str(record.pool),
        state=_registered_state(record),
        owned=False,
        runner_id=record.id,
        idle_since=record.idle_since,
        current_runs=tuple(record.current_runs),
        detail="registered with --pool; not started by the pool",
    )


def _registered_state(record: RunnerView) -> RunnerState:
    if record.status == "lost":
        return "lost"
    if record.status == "offline":
        return "offline"
    if record.drain or record.status == "draining":
        return "draining"
    if record.status == "idle" and not record.current_runs:
        return "idle"
    return "busy"  # busy, or a status this controller does not know: never retired as if idle


def _cleanup(runner: PoolRunner, spec: PoolSpec | None, now: float, start_timeout: float) -> Decision | None:
    """A delete or drain that does not depend on the pool's counts, or None."""
    if not runner.owned:
        return None

    def delete(reason: str, *, failed_start: bool = False) -> Decision:
        return Decision("delete", runner.pool, reason, runner=runner.name, failed_start=failed_start)

    if runner.state == "exited":
        how = f" ({runner.detail})" if runner.detail else ""
        if runner.runner_id is None:
            return delete(f"exited before registering{how}", failed_start=True)
        return delete(f"exited{how}")
    if runner.state in ("lost", "offline"):
        return delete(f"its registration is {runner.state}")
    if runner.state == "pending" and runner.created_at is not None and now - runner.created_at > start_timeout:
        return delete(f"did not register within {start_timeout:g} s", failed_start=True)
    if spec is None:
        gone = f"pool {runner.pool!r} is no longer configured"
        if runner.state == "pending" or (runner.state == "draining" and not runner.current_runs):
            return delete(gone)
        if runner.state in ("idle", "busy"):
            return Decision("drain", runner.pool, gone, runner=runner.name, runner_id=runner.runner_id)
        return None
    if runner.state == "draining" and not runner.current_runs:
        return delete("drained, and holds no run")
    return None


@dataclass
class _Capacity:
    """One pool's runners during a decision, and what the queue asks of it."""

    spec: PoolSpec
    idle: list[PoolRunner]  # the backend's and hand-started
    pending: int
    total: int
    from_spare: int = 0  # queued runs its idle and pending runners will take
    for_demand: int = 0  # queued runs it creates runners for
    waiting: int = 0  # queued runs it could serve (for the reasons)

    @classmethod
    def of(cls, spec: PoolSpec, runners: Sequence[PoolRunner]) -> _Capacity:
        active = [runner for runner in runners if runner.state in ("idle", "busy", "pending", "draining")]
        return cls(
            spec=spec,
            idle=[runner for runner in active if runner.state == "idle"],
            pending=sum(runner.state == "pending" for runner in active),
            total=len(active),
        )

    @property
    def spare(self) -> int:
        return len(self.idle) + self.pending

    @property
    def headroom(self) -> int:
        return max(0, self.spec.max_runners - self.total - self.for_demand)

    def creations(self) -> list[Decision]:
        spec = self.spec
        decisions = [
            Decision(
                "create",
                spec.name,
                f"{self.waiting} queued run(s) it can serve, {self.spare} idle or starting runner(s)",
            )
            for _ in range(self.for_demand)
        ]
        left = self.spare - self.from_spare
        top_up = min(max(0, spec.min_idle - left), self.headroom)
        decisions += [
            Decision("create", spec.name, f"keeps min_idle {spec.min_idle}: {left} idle or starting runner(s)")
            for _ in range(top_up)
        ]
        return decisions

    def retirements(self, now: float) -> list[Decision]:
        """Drains of idle runners: above max_runners first, then those idle too long beyond min_idle."""
        spec = self.spec
        owned = sorted(
            (runner for runner in self.idle if runner.owned),
            key=lambda runner: (runner.idle_since if runner.idle_since is not None else now, runner.name),
        )
        decisions = []
        over = max(0, self.total - spec.max_runners)
        for runner in owned[:over]:
            decisions.append(
                self._drain(runner, f"the pool has {self.total} runners, max_runners is {spec.max_runners}")
            )
        allowed = len(self.idle) - len(decisions) - spec.min_idle - self.from_spare
        for runner in owned[over:]:
            if allowed <= 0:
                break
            idle_for = now - runner.idle_since if runner.idle_since is not None else 0.0
            if idle_for <= spec.idle_timeout_seconds:
                break  # sorted: the rest have been idle for less
            decisions.append(
                self._drain(
                    runner,
                    f"idle for {idle_for:.0f} s (idle_timeout {spec.idle_timeout_seconds:g} s), "
                    f"{len(self.idle)} idle, min_idle {spec.min_idle}",
                )
            )
            allowed -= 1
        return decisions

    def _drain(self, runner: PoolRunner, reason: str) -> Decision:
        return Decision("drain", self.spec.name, reason, runner=runner.name, runner_id=runner.runner_id)


def _serves(spec: PoolSpec, labels: Iterable[str]) -> bool:
    return set(labels) <= set(spec.labels)


def _allocate(pools: Sequence[PoolSpec], plans: Mapping[str, _Capacity], demand: Mapping[tuple[str, ...], int]) -> None:
    """Share the queued runs among the pools: idle and starting runners first, then room for new ones.

    The most demanding label sets go first (only few pools serve them); each goes to the most
    general pool that fits, so specialised runners stay free for what only they can run.
    """
    order = sorted(pools, key=lambda spec: (len(spec.labels), spec.name))
    for labels, count in sorted(demand.items(), key=lambda item: (-len(item[0]), item[0])):
        eligible = [plans[spec.name] for spec in order if _serves(spec, labels)]
        for plan in eligible:
            plan.waiting += count
        left = count
        for plan in eligible:
            taken = min(left, plan.spare - plan.from_spare)
            plan.from_spare += taken
            left -= taken
        for plan in eligible:
            taken = min(left, plan.headroom)
            plan.for_demand += taken
            left -= taken


@dataclass(frozen=True)
class DecisionRecord:
    """A decision as applied: when, and the error if the backend or the store refused it."""

    at: float
    action: Action
    pool: str
    runner: str | None
    reason: str
    error: str | None = None


@dataclass
class _Hold:
    failures: int = 0
    until: float = 0.0


class PoolController:
    """Runs `decide` every `settings.interval_seconds` on a thread and applies what it says.

    `settings.server_url` must be set (the server fills in its own address when it is not configured).
    """

    def __init__(
        self,
        store: PoolStore,
        settings: PoolSettings,
        backend: RunnerBackend,
        clock: Callable[[], float] = time.time,
        *,
        start_timeout: float = START_TIMEOUT_SECONDS,
        runner_env: Mapping[str, str] | None = None,
        leader: Callable[[], bool] | None = None,
    ) -> None:
        """`leader()` says whether this process runs the pool now, among the servers sharing the database
        (None: it always does); a standby ticks only to ask again."""
        if not settings.server_url:
            raise ValueError("the pool controller needs the server URL runners dial (settings.server_url)")
        self.store = store
        self.settings = settings
        self.server_url = settings.server_url
        self.backend = backend
        self.clock = clock
        self.start_timeout = start_timeout
        self.runner_env = dict(runner_env or {})
        self.leader = leader
        self._leading = leader is None
        self._decisions: deque[DecisionRecord] = deque(maxlen=KEPT_DECISIONS)
        self._survey: Survey | None = None
        self._last_tick_at: float | None = None
        self._last_error: str | None = None
        self._holds: dict[str, _Hold] = {}
        self._unregistered: dict[str, str] = {}  # runners created here, not yet seen registered: name -> pool
        self._lock = threading.Lock()  # status() reads from the API's threads
        self._tick_lock = threading.Lock()  # tick() from the thread and from a caller never overlap
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # --- the loop ------------------------------------------------------------------------

    def start(self) -> None:
        """Adopt what the backend already runs (it is only counted, never created twice), then tick on a thread."""
        adopted = self.backend.list()
        if adopted:
            log.info(
                "pool controller adopts %d runner(s) the %s backend reports: %s",
                len(adopted),
                self.backend.name,
                ", ".join(sorted(runner.name for runner in adopted)),
            )
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="plue-pool", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Runs were queued: look now rather than at the next interval."""
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop ticking. Runners are left as they are: the backend's `close` (local) or the next controller has them."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            self.tick()
            self._wake.wait(self.settings.interval_seconds)

    def tick(self) -> list[DecisionRecord]:
        """Read the store, the queue and the backend once, decide, apply; never raises (errors are recorded)."""
        with self._tick_lock:
            try:
                return self._tick()
            except Exception as exc:  # the store or the backend failed: try again next tick
                message = f"{type(exc).__name__}: {exc}"
                log.warning("pool controller tick failed: %s", message)
                with self._lock:
                    self._last_error = message
                return []

    def _tick(self) -> list[DecisionRecord]:
        if self.leader is not None:
            leading = self.leader()
            if leading != self._leading:
                log.info(
                    "pool controller: %s",
                    "this server now runs the pool"
                    if leading
                    else "another server on this database runs the pool: this one stands by",
                )
            with self._lock:
                self._leading = leading
                self._last_tick_at = self.clock()
            if not leading:
                return []
        pools = self.settings.pools
        runners = list(self.store.list_runners(include_gone=True))
        demand = dict(self.store.queue_demand())
        backend_runners = self.backend.list()
        now = self.clock()
        seen = survey(pools, runners, backend_runners, demand, now)
        self._note_registrations(seen)
        decisions = decide(pools, runners, backend_runners, demand, now, start_timeout=self.start_timeout)
        taken = {runner.name for runner in seen.runners} | {runner.name for runner in runners}
        applied = [record for d in decisions if (record := self._apply(d, taken)) is not None]
        with self._lock:
            self._survey = seen
            self._last_tick_at = now
            self._last_error = None
        return applied

    def _note_registrations(self, seen: Survey) -> None:
        for runner in seen.runners:
            if runner.runner_id is not None and self._unregistered.pop(runner.name, None) is not None:
                with self._lock:
                    self._holds.pop(runner.pool, None)  # one started fine: the pool's command and URL work

    # --- applying --------------------------------------------------------------------------

    def _apply(self, decision: Decision, taken: set[str]) -> DecisionRecord | None:
        now = self.clock()
        if decision.action == "create" and now < self._held_until(decision.pool):
            return None  # said once, in the decision that began the hold
        name = decision.runner
        error: str | None = None
        try:
            if decision.action == "create":
                name = self._new_name(decision.pool, taken)
                self._create(decision.pool, name)
            elif decision.action == "drain":
                if decision.runner_id is not None:
                    self.store.drain_runner(decision.runner_id)
            else:
                assert name is not None
                self.backend.delete(name)
                self.store.revoke_token(token_name(name))
                self._unregistered.pop(name, None)
        except Exception as exc:  # one decision failed; the others still apply
            error = f"{type(exc).__name__}: {exc}"
        reason = decision.reason
        if decision.failed_start or (decision.action == "create" and error is not None):
            reason += f"; no new runner in pool {decision.pool} for {self._hold(decision.pool, now):.0f} s"
        record = DecisionRecord(now, decision.action, decision.pool, name, reason, error)
        self._record(record)
        return record

    def _create(self, pool: str, name: str) -> None:
        spec = next(spec for spec in self.settings.pools if spec.name == pool)
        token = self.store.create_token(token_name(name), TOKEN_SCOPE)
        try:
            self.backend.create(RunnerSpec(name, pool, spec.labels, self.server_url, token, self.runner_env))
        except BaseException:
            self.store.revoke_token(token_name(name))
            raise
        self._unregistered[name] = pool

    def _new_name(self, pool: str, taken: set[str]) -> str:
        while True:
            name = f"{pool}-{secrets.token_hex(4)}"
            if name not in taken:
                taken.add(name)
                return name

    def _hold(self, pool: str, now: float) -> float:
        """Hold back creations in `pool` after a failed start, longer after each; the seconds held."""
        with self._lock:
            hold = self._holds.setdefault(pool, _Hold())
            hold.failures += 1
            seconds = min(MAX_HOLD_SECONDS, HOLD_SECONDS * 2.0 ** min(hold.failures - 1, 32))
            hold.until = now + seconds
        return seconds

    def _held_until(self, pool: str) -> float:
        with self._lock:
            hold = self._holds.get(pool)
            return hold.until if hold is not None else 0.0

    def _record(self, record: DecisionRecord) -> None:
        what = f"{record.action} runner {record.runner}" if record.runner else record.action
        if record.error is None:
            log.info("pool %s: %s: %s", record.pool, what, record.reason)
        else:
            log.warning("pool %s: %s (%s) failed: %s", record.pool, what, record.reason, record.error)
        with self._lock:
            self._decisions.append(record)

    # --- status ----------------------------------------------------------------------------

    def decisions(self) -> list[DecisionRecord]:
        with self._lock:
            return list(self._decisions)

    def status(self) -> dict[str, Any]:
        """The pools, their runners and the recent decisions (oldest first), as JSON-able data for `GET /api/pool`."""
        with self._lock:
            seen = self._survey
            decisions = list(self._decisions)
            last_tick_at, last_error, leading = self._last_tick_at, self._last_error, self._leading
            now = self.clock()
            holds = {pool: hold.until for pool, hold in self._holds.items() if hold.until > now}
        counts = {counts.name: counts for counts in seen.pools} if seen is not None else {}
        pools = []
        for spec in self.settings.pools:
            found = counts.get(spec.name)
            pools.append(
                {
                    "name": spec.name,
                    "labels": list(spec.labels),
                    "min_idle": spec.min_idle,
                    "max_runners": spec.max_runners,
                    "idle_timeout_seconds": spec.idle_timeout_seconds,
                    "idle": found.idle if found else 0,
                    "busy": found.busy if found else 0,
                    "pending": found.pending if found else 0,
                    "draining": found.draining if found else 0,
                    "total": found.total if found else 0,
                    "queued": found.queued if found else 0,
                    "held_until": holds.get(spec.name),
                }
            )
        return {
            "enabled": True,
            "leader": leading,  # False: another server sharing the database runs the pool; this one stands by
            "backend": self.backend.name,
            "server_url": self.server_url,
            "interval_seconds": self.settings.interval_seconds,
            "last_tick_at": last_tick_at,
            "last_error": last_error,
            "pools": pools,
            "runners": [_runner_json(runner) for runner in seen.runners] if seen is not None else [],
            "unserved": [
                {"labels": list(labels), "queued": count}
                for labels, count in sorted((seen.unserved if seen else {}).items())
            ],
            "decisions": [asdict(record) for record in decisions],
        }


def _runner_json(runner: PoolRunner) -> dict[str, Any]:
    data = asdict(runner)
    data["current_runs"] = list(runner.current_runs)
    return data


__all__ = [
    "BackendRunner",
    "Decision",
    "DecisionRecord",
    "PoolController",
    "PoolCounts",
    "PoolRunner",
    "PoolSettings",
    "PoolSpec",
    "PoolStore",
    "RunnerView",
    "Survey",
    "decide",
    "survey",
    "token_name",
]
