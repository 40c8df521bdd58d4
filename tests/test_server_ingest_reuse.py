"""Ingest work done once per commit: the scan of a tree, and the plan of a workflow whose `workflow()` takes no ctx
(the same for every event) — while a `workflow(ctx)` is still evaluated with each delivery's event."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from ingest_support import Upstream, issues_payload, push_payload
from server_support import make_config

from plue.events import build_context_data, parse_event
from plue.registry import Registry
from plue.sandbox import Evaluation, EvaluationRequest, Evaluator
from plue.server.config import RepositoryConfig, ServerConfig
from plue.server.ctx_free import takes_no_ctx
from plue.server.ingest import CACHE_DIR_NAME, Ingestor
from plue.server.mirrors import Mirrors
from plue.store import Store

NO_CTX = """\
from plue import Plan, Step, Trigger


def workflow():
    return Plan("Lint", steps=[Step.bash("lint", "make lint")], triggers=[Trigger.on_push(branch="main")])
"""

WITH_CTX = """\
from plue import Plan, Step, Trigger


def workflow(ctx):
    sha = ctx.event.sha if ctx.event else "none"
    return Plan("Build", steps=[Step.bash("build", "make " + sha)], triggers=[Trigger.on_push(branch="main")])
"""


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (NO_CTX, True),
        ("def workflow():\n    return helper()\n\ndef helper():\n    return 1\n", True),
        (WITH_CTX, False),
        ("def workflow(ctx=None):\n    return ctx\n", False),
        ("def workflow(*args):\n    return args\n", False),
        ("def workflow():\n    return 1\n\ndef workflow(ctx):\n    return ctx\n", False),
        ("def first():\n    return 1\n\nworkflow = first\n", False),
        ("def workflow():\n    return 1\n\nworkflow = lambda ctx: ctx\n", False),
        ("def workflow():\n    return 1\n\ndef later():\n    global workflow\n", False),
        ("from somewhere import thing as workflow\n", False),
        ("def wrap(f):\n    return f\n\n@wrap\ndef workflow():\n    return 1\n", False),
        ("if True:\n    def workflow():\n        return 1\n", False),  # not at the top level
        ("def workflow(:\n", False),
    ],
)
def test_only_a_plain_workflow_without_parameters_takes_no_ctx(source: str, expected: bool) -> None:
    assert takes_no_ctx(source.encode()) is expected


class CountingEvaluator(Evaluator):
    """The real sandbox, noting what it is asked to evaluate."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[EvaluationRequest] = []

    def evaluate_many(self, requests: Iterable[EvaluationRequest]) -> list[Evaluation]:
        requests = list(requests)
        self.requests += requests
        return super().evaluate_many(requests)


@pytest.fixture
def evaluator() -> Iterator[CountingEvaluator]:
    with CountingEvaluator() as counting:
        yield counting


def test_repeated_pushes_evaluate_only_the_workflows_that_read_the_event(
    tmp_path: Path, evaluator: CountingEvaluator
) -> None:
    upstream = Upstream(tmp_path / "remote")
    sha = upstream.push({"lint.plue.py": NO_CTX, "build.plue.py": WITH_CTX})
    config = ServerConfig(
        database_url=None,
        data_dir=tmp_path / "data",
        webhook_secrets=(b"s",),
        repositories={upstream.name: RepositoryConfig(upstream.name, upstream.url)},
    )
    with Store.open(url=config.store_url) as store:
        mirrors = Mirrors.from_config(config)
        ingestor = Ingestor(config, store, mirrors, evaluator)
        payload = push_payload(upstream.name, sha)

        first = ingestor.handle("push", "d-1", payload)
        assert first.outcome == "queued" and len(first.run_ids) == 2
        scanned = [(request.path, request.ctx is None) for request in evaluator.requests]
        assert sorted(scanned) == [("build.plue.py", False), ("build.plue.py", True), ("lint.plue.py", True)]

        evaluator.requests.clear()
        second = ingestor.handle("push", "d-2", payload)
        assert second.outcome == "queued" and len(second.run_ids) == 2
        # No scan, no evaluation: lint.plue.py reads no ctx, and build.plue.py read only what this event
        # shares with the first one (its sha), so its plan comes from the plan memo.
        assert evaluator.requests == []
        assert ingestor.plans.hits == 1

        runs = {run.workflow_path: run for run in map(store.get_run, second.run_ids) if run is not None}
        assert runs["build.plue.py"].plan is not None
        assert runs["build.plue.py"].plan["steps"][0]["cmd"] == f"make {sha}"
        # The reused plan is the very plan an evaluation with the event gives.
        ctx = build_context_data(parse_event("push", payload))
        tree = mirrors[upstream.name].checkout(sha)
        with Registry(tree, evaluator, config.data_dir / CACHE_DIR_NAME) as registry:
            evaluated, problems = registry.evaluate_workflow("lint.plue.py", ctx)
        assert problems == [] and evaluated == runs["lint.plue.py"].plan
        first_lint = [run for run in map(store.get_run, first.run_ids) if run and run.workflow_path == "lint.plue.py"]
        assert [run.plan for run in first_lint] == [evaluated]


def test_a_delivery_is_prepared_from_memory_only_when_nothing_else_is_needed(
    tmp_path: Path, evaluator: CountingEvaluator
) -> None:
    """`prepare_from_memory` (what the webhook runs on the event loop) never touches git, files or the
    sandbox: it gives up (None) until the tree, the scan and the plan are remembered, then decides as
    `prepare` does."""
    upstream = Upstream(tmp_path / "remote")
    sha = upstream.push({"lint.plue.py": NO_CTX, "build.plue.py": WITH_CTX})
    config = make_config(tmp_path / "data", {upstream.name: upstream.url})
    with Store.open(url=config.store_url) as store:
        ingestor = Ingestor(config, store, Mirrors.from_config(config), evaluator)
        payload = push_payload(upstream.name, sha)
        assert ingestor.prepare_from_memory("push", "d-1", payload) is None  # no mirror, no tree yet
        assert evaluator.requests == []

        first = ingestor.prepare("push", "d-1", payload)
        assert first.delivery.outcome == "queued" and len(first.delivery.runs) == 2
        evaluator.requests.clear()
        again = ingestor.prepare_from_memory("push", "d-2", payload)
        assert again is not None and evaluator.requests == []
        assert [run.plan for run in again.delivery.runs] == [run.plan for run in first.delivery.runs]
        assert again.delivery.delivery_id == "d-2" and again.event is not None and again.event.sha == sha

        # Another commit's tree is not made yet; an issue needs its default branch resolved (git): both
        # are prepared in a thread.
        other = upstream.push({"lint.plue.py": NO_CTX, "build.plue.py": WITH_CTX + "\n"})
        assert ingestor.prepare_from_memory("push", "d-3", push_payload(upstream.name, other)) is None
        assert ingestor.prepare_from_memory("issues", "d-4", issues_payload(upstream.name)) is None
        assert evaluator.requests == []
        # Ignored deliveries need nothing at all.
        ping = ingestor.prepare_from_memory("ping", "d-5", {"zen": "hi"})
        assert ping is not None and ping.delivery.outcome == "ignored"
