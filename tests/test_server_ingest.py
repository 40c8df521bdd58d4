"""Ingest: a delivery → the workflows of its commit matched and evaluated → runs queued once per delivery id.

Real parts throughout: an upstream bare repository with workflow files, the mirror, the sandbox, a SQLite store.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ingest_support import Upstream, issues_payload, pull_request_payload, push_payload

from plue.server.config import RepositoryConfig, ServerConfig
from plue.server.ingest import Ingestor, IngestResult
from plue.server.mirrors import Mirrors
from plue.store import Store

ON_PUSH = """\
from plue import Plan, Step, Trigger


def workflow(ctx):
    return Plan("CI", steps=[Step.bash("test", "make test")], triggers=[Trigger.on_push(branch="main")])
"""

ON_PULL_REQUEST = """\
from plue import Plan, Step, Trigger


def workflow():
    return Plan("Review", steps=[Step.bash("review", "make review")], triggers=[Trigger.on_pull_request()])
"""

ON_ISSUES = """\
from plue import Plan, Step, Trigger


def workflow(ctx):
    title = ctx.event.issue.title if ctx.event else "none"
    return Plan("Triage", steps=[Step.bash("triage", "echo " + str(len(title)))], triggers=[Trigger.on_issue()])
"""

# Fine with an empty ctx (so it is indexed), broken for any real event.
BROKEN_FOR_EVENTS = """\
from plue import Plan, Step, Trigger


def workflow(ctx):
    if ctx.event is not None:
        ctx.event.no_such_field
    return Plan("Fragile", steps=[Step.bash("x", "true")], triggers=[Trigger.on_push(branch="main")])
"""


class Harness:
    def __init__(self, tmp_path: Path, repositories: dict[str, RepositoryConfig]) -> None:
        self.config = ServerConfig(
            database_url=None, data_dir=tmp_path / "data", webhook_secrets=(b"s",), repositories=repositories
        )
        self.store = Store.open(url=self.config.store_url)
        self.queued: list[list[int]] = []
        self.pushes: list[tuple[str, str]] = []
        self.ingestor = Ingestor(
            self.config,
            self.store,
            Mirrors.from_config(self.config),
            on_queued=self.queued.append,
            on_push=lambda repository, branch, _sha: self.pushes.append((repository, branch)),
        )

    def handle(self, event: str, delivery: str, payload: dict[str, Any]) -> IngestResult:
        return self.ingestor.handle(event, delivery, payload)


@pytest.fixture
def upstream(tmp_path: Path) -> Upstream:
    return Upstream(tmp_path / "remote")


@pytest.fixture
def harness(tmp_path: Path, upstream: Upstream) -> Iterator[Harness]:
    harness = Harness(tmp_path, {upstream.name: RepositoryConfig(upstream.name, upstream.url)})
    yield harness
    harness.store.close()


def test_a_push_queues_the_matching_workflows_once(harness: Harness, upstream: Upstream) -> None:
    sha = upstream.push({"ci.plue.py": ON_PUSH, "review.plue.py": ON_PULL_REQUEST})
    result = harness.handle("push", "d-1", push_payload(upstream.name, sha))
    assert (result.outcome, result.reason, result.created) == ("queued", None, True)
    [run_id] = result.run_ids
    run = harness.store.get_run(run_id)
    assert run is not None
    assert (run.status, run.workflow_path, run.workflow_name) == ("queued", "ci.plue.py", "CI")
    assert (run.repository, run.sha, run.ref, run.branch) == (upstream.name, sha, "refs/heads/main", "main")
    assert run.event_name == "push"
    assert run.event is not None and run.event["sha"] == sha
    assert run.delivery_id == "d-1"
    assert harness.queued == [[run_id]]
    assert harness.pushes == [(upstream.name, "main")]
    # Outcomes are cached in the server's shared cache, never inside the commit's tree.
    assert list((harness.config.data_dir / "cache").glob("*/*.json"))
    assert not list((harness.config.mirrors_dir).rglob(".plue"))

    again = harness.handle("push", "d-1", push_payload(upstream.name, sha))
    assert again == IngestResult("queued", None, [run_id], False)
    assert [r.id for r in harness.store.list_runs()] == [run_id]
    assert harness.queued == [[run_id]]  # no second wake-up for a redelivery

    second = harness.handle("push", "d-2", push_payload(upstream.name, sha))
    assert second.created and len(second.run_ids) == 1 and second.run_ids != [run_id]


def test_the_workflows_of_the_events_own_commit_are_used(harness: Harness, upstream: Upstream) -> None:
    base = upstream.push({"README": "hello\n"})
    head = upstream.push({"review.plue.py": ON_PULL_REQUEST}, branch="feature")
    result = harness.handle("pull_request", "pr-1", pull_request_payload(upstream.name, head, base))
    assert result.outcome == "queued"
    run = harness.store.get_run(result.run_ids[0])
    assert run is not None
    assert (run.workflow_name, run.sha, run.ref, run.branch) == (
        "Review",
        head,
        "refs/pull/2/head",
        None,
    )  # the fixture is PR #2

    # The base commit has no workflow at all.
    push = harness.handle("push", "push-1", push_payload(upstream.name, base))
    assert push.outcome == "ignored"
    assert push.reason == f"no workflow at {base[:12]} is triggered by this push event"


def test_issues_run_the_default_branch_head_fetched_when_it_moved(harness: Harness, upstream: Upstream) -> None:
    first = upstream.push({"triage.plue.py": ON_ISSUES})
    harness.ingestor.mirrors[upstream.name].resolve("main")  # the mirror exists and knows `first` only
    latest = upstream.push({"other.txt": "x\n"})
    assert latest != first
    result = harness.handle("issues", "i-1", issues_payload(upstream.name))
    assert result.outcome == "queued"
    run = harness.store.get_run(result.run_ids[0])
    assert run is not None
    assert (run.sha, run.branch, run.event_name) == (latest, "main", "issues")
    assert run.plan["steps"][0]["cmd"].startswith("echo ")  # evaluated with the event: the issue title's length
    assert run.plan["steps"][0]["cmd"] != "echo 4"


def test_deliveries_that_start_nothing_are_recorded_as_ignored(harness: Harness, upstream: Upstream) -> None:
    sha = upstream.push({"ci.plue.py": ON_PUSH})
    assert harness.handle("ping", "p-1", {"zen": "Keep it simple.", "hook_id": 1}).reason == "ping"
    other = harness.handle("push", "o-1", push_payload("octo/other", sha))
    assert (other.outcome, other.reason) == ("ignored", "repository octo/other is not configured")
    release = harness.handle("release", "r-1", push_payload(upstream.name, sha))
    assert (release.outcome, release.reason) == ("ignored", "'release' events are not handled")
    deleted = harness.handle("push", "del-1", push_payload(upstream.name, sha, branch="gone", deleted=True))
    assert (deleted.outcome, deleted.reason) == ("ignored", "refs/heads/gone was deleted: there is no commit to run")
    assert harness.store.list_runs() == []
    recorded = {d.delivery_id: d.outcome for d in harness.store.list_deliveries()}
    assert recorded == {"p-1": "ignored", "o-1": "ignored", "r-1": "ignored", "del-1": "ignored"}
    delivery = harness.store.get_delivery("o-1")
    assert delivery is not None and delivery.payload is not None
    assert delivery.payload["repository"]["full_name"] == "octo/other"  # kept for redelivery


def test_a_workflow_that_fails_to_evaluate_does_not_stop_the_others(harness: Harness, upstream: Upstream) -> None:
    sha = upstream.push({"ci.plue.py": ON_PUSH, "fragile.plue.py": BROKEN_FOR_EVENTS})
    result = harness.handle("push", "d-1", push_payload(upstream.name, sha))
    assert result.outcome == "queued"
    assert len(result.run_ids) == 1
    assert result.reason is not None and result.reason.startswith("fragile.plue.py:")
    assert "no_such_field" in result.reason

    only_broken = upstream.delete("ci.plue.py")
    failed = harness.handle("push", "d-2", push_payload(upstream.name, only_broken))
    assert (failed.outcome, failed.run_ids) == ("error", [])
    assert failed.reason is not None and "fragile.plue.py:" in failed.reason


def test_bad_payloads_and_unreachable_repositories_are_errors(tmp_path: Path, upstream: Upstream) -> None:
    gone = (tmp_path / "gone.git").as_uri()
    harness = Harness(
        tmp_path,
        {
            "octo/gone": RepositoryConfig("octo/gone", gone),
            upstream.name: RepositoryConfig(upstream.name, upstream.url),
        },
    )
    try:
        sha = upstream.push({"ci.plue.py": ON_PUSH})
        unreachable = harness.handle("push", "g-1", push_payload("octo/gone", sha))
        assert unreachable.outcome == "error"
        assert unreachable.reason is not None and unreachable.reason.startswith(f"cannot clone octo/gone from {gone}: ")
        payload = push_payload(upstream.name, sha)
        payload["after"] = "not a sha"
        bad = harness.handle("push", "b-1", payload)
        assert bad.outcome == "error"
        assert bad.reason is not None and bad.reason.startswith("the push payload cannot be used: ")
        missing = harness.handle("push", "m-1", push_payload(upstream.name, "2" * 40))
        assert (missing.outcome, missing.reason) == (
            "error",
            f"commit {'2' * 40} is not in {upstream.name} from {upstream.url}; was it pushed?",
        )
        assert harness.store.list_runs() == []
    finally:
        harness.store.close()


def test_concurrent_copies_of_one_delivery_queue_one_set_of_runs(harness: Harness, upstream: Upstream) -> None:
    sha = upstream.push({"ci.plue.py": ON_PUSH})
    start = threading.Barrier(4)
    results: list[IngestResult | BaseException] = []

    def deliver() -> None:
        start.wait()
        try:
            results.append(harness.handle("push", "same", push_payload(upstream.name, sha)))
        except BaseException as exc:
            results.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(isinstance(result, IngestResult) for result in results), results
    assert sorted(r.created for r in results if isinstance(r, IngestResult)) == [False, False, False, True]
    assert len({tuple(r.run_ids) for r in results if isinstance(r, IngestResult)}) == 1
    assert len(harness.store.list_runs()) == 1
