"""Shared fixtures.

Sandbox: evaluators are started once per session (a warm parent costs ~0.3 s to
start) and shared by every sandbox test; they are only ever used through the
public API, so sharing them cannot leak state between tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from plue.sandbox import EvaluationRequest, Evaluator, Limits

# --- sandbox -------------------------------------------------------------------

# Small limits keep resource bombs cheap: each ends within about a second.
TIGHT_LIMITS = Limits(wall_seconds=1, cpu_seconds=1)

SANDBOX_BENIGN_SOURCE = b"""\
from plue import Plan, Step


def workflow(ctx):
    return Plan("canary", steps=[Step.bash("hello", "echo hello")])
"""


def _push_ctx() -> dict[str, Any]:
    return {
        "event": {
            "name": "push",
            "action": None,
            "ref": "refs/heads/main",
            "branch": "main",
            "tag": None,
            "sha": "0123456789abcdef0123456789abcdef01234567",
            "actor": "octocat",
            "labels": [],
            "changed_files": ["src/app.py", "docs/index.md"],
            "pull_request": None,
            "payload": {"ref": "refs/heads/main", "head_commit": {"message": "fix: things"}},
        },
        "inputs": {},
        "repo": {"name": "octo/app", "default_branch": "main"},
    }


@pytest.fixture(scope="session")
def sandbox_evaluator() -> Iterator[Evaluator]:
    """An evaluator with the default limits."""
    with Evaluator() as evaluator:
        yield evaluator


@pytest.fixture(scope="session")
def tight_evaluator() -> Iterator[Evaluator]:
    """An evaluator with 1 s wall and CPU limits, for bombs."""
    with Evaluator(limits=TIGHT_LIMITS) as evaluator:
        yield evaluator


@pytest.fixture(scope="session")
def make_push_ctx() -> Callable[[], dict[str, Any]]:
    """Makes ctx data of a push to main (a fresh copy per call)."""
    return _push_ctx


@pytest.fixture
def push_ctx() -> dict[str, Any]:
    """ctx data of a push to main (a fresh copy per test)."""
    return _push_ctx()


@pytest.fixture(scope="session")
def assert_sandbox_healthy() -> Callable[[Evaluator], None]:
    """Check that an evaluator still evaluates a benign file on every one of its parents."""

    def check(evaluator: Evaluator) -> None:
        requests = [EvaluationRequest(SANDBOX_BENIGN_SOURCE, "canary.plue.py", _push_ctx())] * evaluator.workers
        for result in evaluator.evaluate_many(requests):
            assert result.ok, result.error
            assert result.plan is not None and result.plan["name"] == "canary"

    return check
