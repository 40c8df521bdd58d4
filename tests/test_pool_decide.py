"""The pool controller's decisions as a pure function: plain runner records, backend runners and queue demand in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from plue.runners.backends import BackendRunner, Phase
from plue.runners.pool import Decision, decide, survey
from plue.server.config import PoolSpec

NOW = 10_000.0


@dataclass(frozen=True)
class Registered:
    """A registered runner as the store reports it (the fields of `RunnerRecord` the controller reads)."""

    id: str
    name: str
    status: str = "idle"
    drain: bool = False
    pool: str | None = "cpu"
    registered_at: float = NOW - 1000
    current_runs: tuple[int, ...] = ()
    idle_since: float | None = NOW - 10
    token_name: str | None = None


def idle(name: str, pool: str = "cpu", *, for_seconds: float = 10.0, **fields: object) -> Registered:
    return Registered(id=f"id-{name}", name=name, pool=pool, idle_since=NOW - for_seconds, **fields)  # type: ignore[arg-type]


def busy(name: str, pool: str = "cpu", run: int = 1) -> Registered:
    return Registered(id=f"id-{name}", name=name, pool=pool, status="busy", current_runs=(run,), idle_since=None)


def backend(name: str, pool: str = "cpu", phase: Phase = "running", created_at: float = NOW - 60) -> BackendRunner:
    return BackendRunner(name, pool, phase, created_at=created_at)


def owned(*records: Registered) -> list[BackendRunner]:
    """The backend's view of runners it started that registered."""
    return [backend(record.name, record.pool or "") for record in records]


def actions(decisions: Sequence[Decision]) -> list[tuple[str, str, str | None]]:
    return [(decision.action, decision.pool, decision.runner) for decision in decisions]


CPU = PoolSpec("cpu", labels=("linux",), min_idle=1, max_runners=4, idle_timeout_seconds=300.0)
GPU = PoolSpec("gpu", labels=("gpu", "linux"), min_idle=0, max_runners=2, idle_timeout_seconds=300.0)


def test_min_idle_is_kept_counting_idle_and_starting_runners() -> None:
    pool = PoolSpec("cpu", labels=("linux",), min_idle=2, max_runners=4)
    decisions = decide([pool], [], [], {}, NOW)
    assert actions(decisions) == [("create", "cpu", None), ("create", "cpu", None)]
    assert all("min_idle 2" in decision.reason for decision in decisions)

    one = idle("cpu-a")
    assert actions(decide([pool], [one], owned(one), {}, NOW)) == [("create", "cpu", None)]
    # A runner started but not registered yet counts: no second creation while it starts.
    assert decide([pool], [one], [*owned(one), backend("cpu-b")], {}, NOW) == []
    # Busy runners are not idle: min_idle is about warm capacity.
    working = [busy("cpu-a"), busy("cpu-b")]
    assert len(decide([pool], working, owned(*working), {}, NOW)) == 2


def test_queued_runs_grow_the_pool_up_to_max_runners() -> None:
    pool = PoolSpec("cpu", labels=("linux",), min_idle=0, max_runners=3)
    assert actions(decide([pool], [], [], {("linux",): 2}, NOW)) == [("create", "cpu", None)] * 2
    decisions = decide([pool], [], [], {("linux",): 10, (): 5}, NOW)
    assert len(decisions) == 3  # never beyond max_runners
    assert "15 queued run(s) it can serve" in decisions[0].reason
    # An idle runner takes one queued run; one busy runner takes a slot of the maximum.
    runners = [idle("cpu-a"), busy("cpu-b")]
    assert len(decide([pool], runners, owned(*runners), {("linux",): 2}, NOW)) == 1
    # At the maximum, the queue waits.
    full = [busy("cpu-a"), busy("cpu-b"), busy("cpu-c")]
    assert decide([pool], full, owned(*full), {("linux",): 9}, NOW) == []


def test_queued_runs_and_min_idle_together_keep_a_warm_runner_after_the_queue_is_served() -> None:
    pool = PoolSpec("cpu", labels=("linux",), min_idle=1, max_runners=5)
    one = idle("cpu-a")
    decisions = decide([pool], [one], owned(one), {("linux",): 3}, NOW)
    # 3 queued: the idle one takes one, two are created for the rest, one more stays warm.
    assert len(decisions) == 3
    assert sum("min_idle" in decision.reason for decision in decisions) == 1


def test_no_scale_up_for_runs_the_pool_cannot_serve() -> None:
    pool = PoolSpec("cpu", labels=("linux",), min_idle=0, max_runners=4)
    demand = {("gpu",): 4, ("linux", "windows"): 2}
    assert decide([pool], [], [], demand, NOW) == []
    seen = survey([pool], [], [], demand, NOW)
    assert seen.unserved == demand
    assert seen.pools[0].queued == 0


def test_per_label_pools_each_take_the_runs_they_serve() -> None:
    decisions = decide([CPU, GPU], [], [], {("gpu",): 1, ("linux",): 2}, NOW)
    creates = [decision.pool for decision in decisions if decision.action == "create"]
    # gpu: one for its run (the cpu pool lacks the label); cpu: two for its runs, which will make them
    # busy, plus one to keep min_idle 1.
    assert creates.count("gpu") == 1
    assert creates.count("cpu") == 3


def test_a_run_goes_to_the_most_general_pool_that_fits_and_overflows_to_the_next() -> None:
    cpu = PoolSpec("cpu", labels=("linux",), min_idle=0, max_runners=2)
    # Runs needing only linux fit both pools: cpu (fewer labels) takes them, gpu stays free.
    assert [d.pool for d in decide([cpu, GPU], [], [], {("linux",): 2}, NOW)] == ["cpu", "cpu"]
    # More than cpu may hold: the rest go to gpu, which can run them too.
    assert [d.pool for d in decide([cpu, GPU], [], [], {("linux",): 3}, NOW)] == ["cpu", "cpu", "gpu"]
    # An idle gpu runner is used before a new cpu runner is made.
    spare = idle("gpu-a", "gpu")
    assert decide([cpu, GPU], [spare], owned(spare), {("linux",): 1}, NOW) == []


def test_idle_runners_are_retired_after_the_timeout_but_never_below_min_idle() -> None:
    runners = [idle("cpu-a", for_seconds=900), idle("cpu-b", for_seconds=400), idle("cpu-c", for_seconds=350)]
    decisions = decide([CPU], runners, owned(*runners), {}, NOW)
    # min_idle 1: two retire, the longest idle first; the one left is the most recently idle.
    assert actions(decisions) == [("drain", "cpu", "cpu-a"), ("drain", "cpu", "cpu-b")]
    assert [decision.runner_id for decision in decisions] == ["id-cpu-a", "id-cpu-b"]
    assert "idle for 900 s (idle_timeout 300 s)" in decisions[0].reason

    # Not idle long enough: kept.
    recent = [idle("cpu-a", for_seconds=200), idle("cpu-b", for_seconds=100)]
    assert decide([CPU], recent, owned(*recent), {}, NOW) == []
    # Queued runs they can serve keep them too.
    assert decide([CPU], runners, owned(*runners), {("linux",): 2}, NOW) == []


def test_a_drained_runner_is_deleted_once_it_holds_no_run() -> None:
    drained_idle = idle("cpu-a", status="draining", drain=True)
    drained_busy = Registered("id-cpu-b", "cpu-b", status="draining", drain=True, current_runs=(7,), idle_since=None)
    keep = idle("cpu-c")
    runners = [drained_idle, drained_busy, keep]
    decisions = decide([CPU], runners, owned(*runners), {}, NOW)
    assert actions(decisions) == [("delete", "cpu", "cpu-a")]
    assert decisions[0].reason == "drained, and holds no run"


def test_lost_offline_and_exited_runners_are_deleted_from_the_backend() -> None:
    lost = Registered("id-a", "cpu-a", status="lost", idle_since=None)
    offline = Registered("id-b", "cpu-b", status="offline", idle_since=None)
    finished = idle("cpu-c")
    runners = [lost, offline, finished, idle("cpu-d")]
    backend_runners = [
        backend("cpu-a"),
        backend("cpu-b"),
        BackendRunner("cpu-c", "cpu", "exited", created_at=NOW - 60, detail="exit code 0"),
        backend("cpu-d"),
        BackendRunner("cpu-e", "cpu", "exited", created_at=NOW - 5, detail="exit code 2"),
    ]
    decisions = decide([CPU], runners, backend_runners, {}, NOW)
    by_runner = {decision.runner: decision for decision in decisions}
    assert set(by_runner) == {"cpu-a", "cpu-b", "cpu-c", "cpu-e"}
    assert all(decision.action == "delete" for decision in decisions)
    assert by_runner["cpu-a"].reason == "its registration is lost"
    assert by_runner["cpu-b"].reason == "its registration is offline"
    assert by_runner["cpu-c"].reason == "exited (exit code 0)" and not by_runner["cpu-c"].failed_start
    # Exited without ever registering: a failed start (the controller then holds back creations).
    assert by_runner["cpu-e"].reason == "exited before registering (exit code 2)"
    assert by_runner["cpu-e"].failed_start


def test_a_runner_registered_again_after_being_lost_is_kept() -> None:
    old = Registered("id-old", "cpu-a", status="lost", registered_at=NOW - 500, idle_since=None)
    new = Registered("id-new", "cpu-a", status="idle", registered_at=NOW - 20)
    assert decide([CPU], [new, old], [backend("cpu-a")], {}, NOW) == []
    [runner] = survey([CPU], [old, new], [backend("cpu-a")], {}, NOW).runners
    assert (runner.state, runner.runner_id) == ("idle", "id-new")


def test_pending_runners_count_until_they_are_too_late() -> None:
    pool = PoolSpec("cpu", labels=("linux",), min_idle=0, max_runners=4)
    starting = [backend("cpu-a", phase="pending"), backend("cpu-b", phase="running")]
    # Two started (a pod scheduled, a process not registered yet) cover two queued runs.
    assert decide([pool], [], starting, {("linux",): 2}, NOW) == []
    counts = survey([pool], [], starting, {}, NOW).pools[0]
    assert (counts.pending, counts.idle, counts.total) == (2, 0, 2)
    # One that never registers is deleted after start_timeout, and replaced.
    stuck = [backend("cpu-a", created_at=NOW - 700), backend("cpu-b")]
    decisions = decide([pool], [], stuck, {("linux",): 2}, NOW, start_timeout=600)
    assert actions(decisions) == [("delete", "cpu", "cpu-a"), ("create", "cpu", None)]
    assert decisions[0].reason == "did not register within 600 s" and decisions[0].failed_start


def test_runners_of_a_pool_no_longer_configured_are_retired() -> None:
    was_idle = idle("old-a", "old")
    was_busy = busy("old-b", "old")
    runners = [was_idle, was_busy]
    backend_runners = [*owned(*runners), backend("old-c", "old")]
    decisions = decide([], runners, backend_runners, {}, NOW)
    assert actions(decisions) == [("delete", "old", "old-c"), ("drain", "old", "old-a"), ("drain", "old", "old-b")]
    assert all(decision.reason == "pool 'old' is no longer configured" for decision in decisions)


def test_above_max_runners_idle_runners_are_drained_at_once() -> None:
    pool = PoolSpec("cpu", labels=("linux",), min_idle=0, max_runners=1)
    runners = [idle("cpu-a", for_seconds=50), idle("cpu-b", for_seconds=5), busy("cpu-c")]
    decisions = decide([pool], runners, owned(*runners), {}, NOW)
    assert actions(decisions) == [("drain", "cpu", "cpu-a"), ("drain", "cpu", "cpu-b")]
    assert decisions[0].reason == "the pool has 3 runners, max_runners is 1"


def test_runners_started_by_hand_count_but_are_never_retired() -> None:
    pool = PoolSpec("cpu", labels=("linux",), min_idle=1, max_runners=2)
    by_hand = idle("laptop", for_seconds=5000)
    # It counts for min_idle (nothing created) and is not retired although idle for long.
    assert decide([pool], [by_hand], [], {}, NOW) == []
    [runner] = survey([pool], [by_hand], [], {}, NOW).runners
    assert not runner.owned and runner.state == "idle"
    # Runners of other pools, or of none, do not count here.
    other = idle("elsewhere", pool="gpu")
    none = Registered("id-x", "x", pool=None)
    assert len(decide([pool], [other, none], [], {}, NOW)) == 1


def test_a_pool_made_registration_without_its_backend_runner_does_not_count() -> None:
    pool = PoolSpec("cpu", labels=("linux",), min_idle=1, max_runners=2)
    # Killed (kill -9, a node lost): the backend lost it, the store has not declared it lost yet.
    crashed = idle("cpu-a", token_name="runner:cpu-a")
    assert actions(decide([pool], [crashed], [], {}, NOW)) == [("create", "cpu", None)]
    assert survey([pool], [crashed], [], {}, NOW).runners == ()


def test_decide_is_a_pure_function_of_its_inputs() -> None:
    runners = [idle("cpu-a", for_seconds=900), busy("cpu-b"), Registered("id-c", "cpu-c", status="lost")]
    backend_runners = [*owned(*runners), backend("cpu-d", phase="pending")]
    demand: dict[tuple[str, ...], int] = {("linux",): 3, ("gpu",): 1}
    first = decide([CPU, GPU], runners, backend_runners, demand, NOW)
    assert first == decide([CPU, GPU], list(reversed(runners)), list(reversed(backend_runners)), demand, NOW)
    assert first  # it had something to say
