"""The scheduler: each cron tick of a default-branch workflow queues one run, driven by a fake clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from ingest_support import Upstream

from plue.server.config import RepositoryConfig, ServerConfig
from plue.server.mirrors import Mirrors
from plue.server.scheduler import Scheduler
from plue.store import Store

EVERY_FIVE = """\
from plue import Plan, Step, Trigger


def workflow(ctx):
    return Plan(
        "Every five",
        steps=[Step.bash("run", "echo tick")],
        triggers=[Trigger.on_schedule("*/5 * * * *"), Trigger.on_push("main")],
    )
"""

PARIS_NINE = """\
from plue import Plan, Step, Trigger


def workflow():
    nine = Trigger.on_schedule("0 9 * * *", tz="Europe/Paris")
    return Plan("Paris", steps=[Step.bash("run", "true")], triggers=[nine])
"""

NO_SCHEDULE = """\
from plue import Plan, Step, Trigger


def workflow():
    return Plan("Every five", steps=[Step.bash("run", "true")], triggers=[Trigger.on_push("main")])
"""


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


T0 = at("2024-05-01T09:01:00")


@pytest.fixture
def upstream(tmp_path: Path) -> Upstream:
    return Upstream(tmp_path / "remote")


def make_config(tmp_path: Path, upstream: Upstream, catch_up: str = "latest") -> ServerConfig:
    return ServerConfig(
        database_url=None,
        data_dir=tmp_path / "server",
        webhook_secrets=(),
        repositories={upstream.name: RepositoryConfig(upstream.name, upstream.url)},
        catch_up=catch_up,
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(url=f"sqlite:///{tmp_path / 'plue.db'}") as opened:
        yield opened


def scheduler(store: Store, tmp_path: Path, upstream: Upstream, catch_up: str = "latest") -> Scheduler:
    config = make_config(tmp_path, upstream, catch_up)
    return Scheduler(store, config, Mirrors.from_config(config), clock=lambda: T0)


def test_each_tick_queues_one_run_once(store: Store, tmp_path: Path, upstream: Upstream) -> None:
    sha = upstream.push({"ci/every.plue.py": EVERY_FIVE})
    first = scheduler(store, tmp_path, upstream)

    assert first.run_once(T0) == []  # first seen now: ticks before it are not "missed"
    [run_id] = first.run_once(at("2024-05-01T09:05:30"))
    assert first.run_once(at("2024-05-01T09:06:00")) == []  # the same tick, again

    run = store.get_run(run_id)
    assert run is not None and run.status == "queued"
    assert (run.workflow_path, run.event_name, run.repository, run.sha, run.branch) == (
        "ci/every.plue.py",
        "schedule",
        upstream.name,
        sha,
        "main",
    )
    assert run.event is not None
    assert run.event["schedule"] == "*/5 * * * *"
    assert run.event["payload"]["scheduled_at"] == "2024-05-01T09:05:00Z"
    assert [step.id for step in run.steps] == ["run"]

    # Another server process (its own scheduler, same store) does not fire that tick again.
    other = scheduler(store, tmp_path / "other", upstream)
    assert other.run_once(at("2024-05-01T09:06:00")) == []
    [next_run] = other.run_once(at("2024-05-01T09:10:00"))
    assert first.run_once(at("2024-05-01T09:10:00")) == []
    assert next_run != run_id


@pytest.mark.parametrize(
    ("policy", "expected"),
    [("latest", ["2024-05-01T10:00:00Z"]), ("none", []), ("all", [f"2024-05-01T09:{m:02d}:00Z" for m in (10, 15)])],
)
def test_missed_ticks_follow_the_catch_up_policy(
    store: Store, tmp_path: Path, upstream: Upstream, policy: str, expected: list[str]
) -> None:
    upstream.push({"every.plue.py": EVERY_FIVE})
    first = scheduler(store, tmp_path, upstream, policy)
    first.run_once(T0)
    assert len(first.run_once(at("2024-05-01T09:05:00"))) == 1

    # The server stops for a while; a new one (a restart) catches up from the store's last tick.
    restarted = scheduler(store, tmp_path, upstream, policy)
    until = at("2024-05-01T10:02:00") if policy != "all" else at("2024-05-01T09:17:00")
    queued = restarted.run_once(until)

    ticks = []
    for run_id in queued:
        run = store.get_run(run_id)
        assert run is not None and run.event is not None
        ticks.append(run.event["payload"]["scheduled_at"])
    assert ticks == expected


def test_a_time_zone_shifts_the_ticks(store: Store, tmp_path: Path, upstream: Upstream) -> None:
    upstream.push({"paris.plue.py": PARIS_NINE})
    paris = scheduler(store, tmp_path, upstream)
    paris.run_once(at("2024-05-01T06:00:00"))

    assert paris.run_once(at("2024-05-01T06:59:00")) == []
    [run_id] = paris.run_once(at("2024-05-01T07:00:10"))  # 09:00 in Paris is 07:00 UTC in May (CEST)
    run = store.get_run(run_id)
    assert run is not None and run.event is not None
    assert run.event["payload"]["scheduled_at"] == "2024-05-01T07:00:00Z"
    assert run.event["payload"]["tz"] == "Europe/Paris"


def test_a_push_to_the_default_branch_rebuilds_the_index(store: Store, tmp_path: Path, upstream: Upstream) -> None:
    upstream.push({"every.plue.py": EVERY_FIVE})
    sched = scheduler(store, tmp_path, upstream)
    sched.run_once(T0)
    assert [schedule.cron for schedule in sched.schedules()] == ["*/5 * * * *"]

    upstream.push({"every.plue.py": NO_SCHEDULE})
    sched.invalidate(upstream.name, "feature")  # another branch: nothing to do
    assert sched.run_once(T0 + 1) == [] and len(sched.schedules()) == 1
    sched.invalidate(upstream.name, "main")
    assert sched.run_once(at("2024-05-01T09:05:00")) == []
    assert sched.schedules() == []


def test_a_push_of_the_indexed_commit_changes_nothing(store: Store, tmp_path: Path, upstream: Upstream) -> None:
    first = upstream.push({"every.plue.py": EVERY_FIVE})
    sched = scheduler(store, tmp_path, upstream)
    sched.run_once(T0)
    sched.invalidate(upstream.name, "main", first)  # e.g. a redelivery, or a second workflow's delivery
    assert upstream.name not in sched._invalid
    second = upstream.push({"every.plue.py": NO_SCHEDULE})
    sched.invalidate(upstream.name, "main", second)
    assert upstream.name in sched._invalid
    sched.run_once(T0 + 1)
    assert sched.schedules() == []


def test_the_head_is_checked_again_after_check_seconds(store: Store, tmp_path: Path, upstream: Upstream) -> None:
    upstream.push({"every.plue.py": NO_SCHEDULE})
    sched = scheduler(store, tmp_path, upstream)
    sched.run_once(T0)
    assert sched.schedules() == []

    upstream.push({"every.plue.py": EVERY_FIVE})
    sched.run_once(T0 + 1)
    assert sched.schedules() == []  # not checked yet
    sched.run_once(T0 + sched.check_seconds)
    assert [schedule.workflow_path for schedule in sched.schedules()] == ["every.plue.py"]
    assert sched.next_due(T0 + sched.check_seconds) <= at("2024-05-01T09:05:00")
