"""Helpers for registry and CLI tests: real repositories of workflow files in temp dirs."""

from __future__ import annotations

import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from plue.sandbox import (
    Evaluation,
    EvaluationError,
    EvaluationRequest,
    Limits,
    default_evaluator,
)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
EVENT_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "events"

CI = """\
from plue import Plan, Step, Trigger


def workflow():
    test = Step.bash("test", "pytest -q")
    build = Step.bash("build", "make", depends_on=[test])
    return Plan("CI", steps=[test, build], triggers=[Trigger.on_push("main"), Trigger.on_pull_request()])
"""

NIGHTLY = """\
from plue import Plan, Step, Trigger


def workflow(ctx):
    return Plan(
        "Nightly",
        steps=[Step.bash("run", "make nightly")],
        triggers=[Trigger.on_schedule("0 3 * * *"), Trigger.manual(inputs={"dry_run": False})],
    )
"""

# A syntax error on line 1, column 14.
BROKEN = "def workflow(:\n    pass\n"

# Evaluates, but the plan has a dependency cycle: a validation problem.
CYCLE = """\
from plue import Plan, Step


def workflow():
    return Plan(
        "Cycle",
        steps=[Step.bash("a", "x", depends_on="b"), Step.bash("b", "y", depends_on="a")],
    )
"""


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def git_init(repo: Path) -> Path:
    repo.mkdir(parents=True, exist_ok=True)
    git(repo, "init", "-q", "-b", "main")
    return repo


def write(repo: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


def commit_all(repo: Path, message: str = "commit") -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


class CountingEvaluator:
    """Delegates to the shared sandbox evaluator and records every path it evaluates."""

    def __init__(self) -> None:
        self.inner = default_evaluator()
        self.limits = self.inner.limits
        self.paths: list[str] = []
        self.contexts: list[Any] = []

    def evaluate_many(self, requests: Iterable[EvaluationRequest]) -> list[Evaluation]:
        requests = list(requests)
        self.paths += [request.path for request in requests]
        self.contexts += [request.ctx for request in requests]
        return self.inner.evaluate_many(requests)

    def close(self) -> None:
        pass


class ScriptedEvaluator:
    """Answers every request with the same canned evaluation (no processes at all)."""

    def __init__(self, kind: str, message: str = "the evaluator process died") -> None:
        self.limits = Limits()
        self.kind = kind
        self.message = message
        self.calls = 0

    def evaluate_many(self, requests: Iterable[EvaluationRequest]) -> list[Evaluation]:
        out = []
        for request in requests:
            self.calls += 1
            error = EvaluationError(request.path, self.message, self.kind)
            out.append(Evaluation(request.path, error=error))
        return out

    def close(self) -> None:
        pass


def paths(entries: Sequence[Any]) -> list[str]:
    return [entry.path for entry in entries]
