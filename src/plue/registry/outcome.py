"""The outcome of evaluating and validating one workflow source, independent of its path.

An outcome holds no path so that it can be cached by content hash: the same
bytes give the same outcome wherever the file lives. Messages get the path when
they are shown (`Outcome.messages`).

An outcome has two parts: the *summary* (name, triggers, problems), which every
scan needs, and the *plan*, which few callers need. They are cached apart so that
a scan served from the cache never parses a plan (see `plue.registry.cache`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from plue.sandbox import Evaluation, EvaluationError, EvaluationRequest, Evaluator
from plue.sandbox.context import Observation

# An evaluator that died is not the file's fault as far as we can tell: not cached, so the
# next scan tries again. Every other failure is cached, timeouts included: evaluation
# is deterministic and takes milliseconds, so a file that needs more than the wall
# limit (seconds) loops, and must not cost that again on every scan.
TRANSIENT_ERROR_KINDS = frozenset({"crash"})


@dataclass(frozen=True)
class Failure:
    """Why the evaluation gave no plan (an `EvaluationError` without its path)."""

    kind: str
    message: str
    line: int | None = None
    col: int | None = None

    def at(self, path: str) -> str:
        return str(EvaluationError(path, self.message, self.kind, self.line, self.col))

    def to_data(self) -> list[Any]:
        return [self.kind, self.message, self.line, self.col]


@dataclass(frozen=True)
class Outcome:
    """A valid plan's summary, or why there is no valid plan."""

    name: str | None = None  # the plan's name, even when validation failed
    triggers: list[dict[str, Any]] = field(default_factory=list)  # of a valid plan only
    failure: Failure | None = None
    problems: tuple[str, ...] = ()  # validation problems, "where: message"
    # The validated plan when at hand (a fresh evaluation); None for a cached summary,
    # whose plan is read from the cache only when asked for.
    plan: dict[str, Any] | None = field(default=None, compare=False, repr=False)
    # What a fresh evaluation observed of its ctx (None: unknown, e.g. from the cache).
    reads: tuple[Observation, ...] | None = field(default=None, compare=False, repr=False)

    @property
    def ok(self) -> bool:
        return self.failure is None and not self.problems

    @property
    def cacheable(self) -> bool:
        return self.failure is None or self.failure.kind not in TRANSIENT_ERROR_KINDS

    def messages(self, path: str) -> list[str]:
        """Every problem as `path:line:col: message` or `path: where: message`."""
        if self.failure is not None:
            return [self.failure.at(path)]
        return [f"{path}: {problem}" for problem in self.problems]

    def summary_data(self) -> dict[str, Any]:
        failure = self.failure
        return {
            "name": self.name,
            "triggers": self.triggers,
            "failure": None if failure is None else failure.to_data(),
            "problems": list(self.problems),
        }

    @classmethod
    def from_summary_data(cls, data: object) -> Outcome:
        """Rebuild a cached summary, checking its shape: raises ValueError on anything odd."""
        if type(data) is not dict or set(data) != {"name", "triggers", "failure", "problems"}:
            raise ValueError("not an outcome summary")
        name, triggers, problems = data["name"], data["triggers"], data["problems"]
        if name is not None and type(name) is not str:
            raise ValueError("bad name")
        # Only validated plans give triggers, so a cheap shape check catches a damaged
        # or foreign file without paying for full validation on every scan.
        if type(triggers) is not list or not all(type(t) is dict and type(t.get("event")) is str for t in triggers):
            raise ValueError("bad triggers")
        if type(problems) is not list or not all(type(p) is str for p in problems):
            raise ValueError("bad problems")
        return cls(name, triggers, _failure(data["failure"]), tuple(problems))


def _failure(data: object) -> Failure | None:
    if data is None:
        return None
    if type(data) is not list or len(data) != 4:
        raise ValueError("bad failure")
    kind, message, line, col = data
    if type(kind) is not str or type(message) is not str:
        raise ValueError("bad failure")
    if not all(v is None or type(v) is int for v in (line, col)):
        raise ValueError("bad failure position")
    return Failure(kind, message, line, col)


def outcome_of(evaluation: Evaluation) -> Outcome:
    """Validate an evaluation's plan data; the outcome keeps the plan only if it is valid."""
    # Imported here: validation pulls in jsonschema (a quarter of a second), which a
    # scan served from the cache never needs.
    from plue.validation import validate_plan

    reads = evaluation.reads
    if evaluation.error is not None:
        error = evaluation.error
        return Outcome(failure=Failure(error.kind, error.message, error.line, error.col), reads=reads)
    plan = evaluation.plan
    name = plan.get("name") if isinstance(plan, dict) else None
    name = name if type(name) is str else None
    problems = tuple(str(problem) for problem in validate_plan(plan))
    if problems or plan is None:
        return Outcome(name, problems=problems or ("evaluation gave no plan",), reads=reads)
    return Outcome(name, list(plan["triggers"]), plan=plan, reads=reads)


def evaluate(
    evaluator: Evaluator, sources: Sequence[tuple[bytes, str]], ctx: Mapping[str, Any] | None = None
) -> list[Outcome]:
    """Evaluate (in parallel) and validate (source, path) pairs with one ctx, in order."""
    requests = [EvaluationRequest(source=source, path=path, ctx=ctx) for source, path in sources]
    return [outcome_of(evaluation) for evaluation in evaluator.evaluate_many(requests)]
