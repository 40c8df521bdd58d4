"""The registry: a repository's workflows, loaded through the content-hash cache, and
which of them an event triggers."""

from __future__ import annotations

import gc
import hashlib
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import Any

from plue.events import Event, EventError, match_triggers
from plue.plan import canonical_json
from plue.registry.cache import OutcomeCache, cache_key
from plue.registry.discovery import discover_paths
from plue.registry.outcome import Outcome, evaluate
from plue.registry.source import SourceError, locate, read, source_hash
from plue.sandbox import Evaluator, Limits, default_evaluator
from plue.sandbox.context import Observation

# A file changed less than this long before it was stat'ed could change again within
# the same timestamp tick without its stamp changing: it is re-hashed on every scan
# until it settles (git calls this the "racy clean" problem).
RACY_WINDOW_NS = 2_000_000_000

# Plans evaluated for an event, kept in memory only: (source hash, ctx hash) -> outcome.
CTX_MEMO_SIZE = 256
UNSTABLE_FAILURES = frozenset({"crash", "timeout", "cpu", "memory"})

DEFAULT_CACHE_DIR = Path(".plue") / "cache"


@dataclass(frozen=True)
class WorkflowEntry:
    """One workflow file as the registry sees it, with an empty ctx."""

    path: str  # repo-relative, '/'-separated
    content_hash: str | None  # sha256 of the file's bytes; None when it could not be read
    name: str | None
    triggers: list[dict[str, Any]]
    problems: list[str]  # `path:line:col: message` or `path: where: message`
    # Gives the plan on first access (from memory, or read from the cache).
    load_plan: Callable[[], dict[str, Any] | None] = field(default=lambda: None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.content_hash is not None and not self.problems

    @cached_property
    def plan(self) -> dict[str, Any] | None:
        """The validated plan; None when the workflow is broken (or changed since the scan)."""
        return self.load_plan() if self.ok else None


@dataclass(frozen=True)
class MatchResult:
    entry: WorkflowEntry
    matched: bool
    reason: str


@dataclass(frozen=True)
class CtxEvaluation:
    """A workflow evaluated with a ctx: the validated plan (or None) and the problems, with what the
    evaluation observed of ctx (None when not known, or when the outcome may differ next time) and the
    source's content hash."""

    plan: dict[str, Any] | None
    messages: list[str]
    reads: tuple[Observation, ...] | None
    content_hash: str | None


class Registry:
    """The workflows of the repository at `repo`.

    One `Evaluator` serves every evaluation: the one given; else the process-wide
    `default_evaluator()`, or, for other `limits`, one the registry starts when it
    first needs it and stops in `close()` (use ``with Registry(...)``).
    """

    def __init__(
        self,
        repo: Path | str,
        evaluator: Evaluator | None = None,
        cache_dir: Path | str | None = None,
        *,
        limits: Limits | None = None,
        use_cache: bool = True,
    ) -> None:
        self.root = Path(repo).resolve()
        self._root_text = str(self.root)
        if not self.root.is_dir():
            raise NotADirectoryError(f"{repo}: not a directory")
        self._evaluator = evaluator
        self._owns_evaluator = False
        if evaluator is not None and limits is not None and limits != evaluator.limits:
            raise ValueError("give limits to the evaluator, not to the registry")
        # Outcomes depend on the limits, so they are part of the cache key.
        self.limits = evaluator.limits if evaluator is not None else limits or Limits()
        directory = Path(cache_dir) if cache_dir is not None else self.root / DEFAULT_CACHE_DIR
        self._cache = OutcomeCache(directory, cache_key(self.limits)) if use_cache else None
        self._known: dict[str, Outcome] = {}  # outcomes of the last scan, by source hash
        self._ctx_memo: OrderedDict[tuple[str, str], Outcome] = OrderedDict()
        self._entries: list[WorkflowEntry] | None = None

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_evaluator and self._evaluator is not None:
            self._evaluator.close()
            self._evaluator = None

    @property
    def entries(self) -> list[WorkflowEntry]:
        """The entries of the last scan (scanning first if there was none)."""
        return self._entries if self._entries is not None else self.scan()

    # --- scanning ------------------------------------------------------------

    def scan(self) -> list[WorkflowEntry]:
        """Load every workflow of the repository; a broken file never hides the others."""
        self._entries = self._load(discover_paths(str(self.root)), whole_repo=True)
        return self._entries

    def load(self, path: str | Path) -> WorkflowEntry:
        """One workflow file (absolute, or relative to the repository) with an empty ctx."""
        return self._load([self.relative(path)], whole_repo=False)[0]

    def _load(self, paths: list[str], *, whole_repo: bool) -> list[WorkflowEntry]:
        started_ns = time.time_ns()
        found: dict[str, Outcome] = {}
        rows: list[tuple[str, str | None, str | None]] = []  # (path, source hash, read error)
        pending: dict[str, tuple[bytes, str]] = {}  # source hash -> (bytes, a path), to evaluate
        with _collector_paused():
            stored = self._cache.load_index() if self._cache else None
            index = stored or {}
            # A whole-repository scan rebuilds the index (forgetting deleted files); loading
            # single files updates their rows only.
            new_index = {} if whole_repo else dict(index)
            for rel in paths:
                new_index.pop(rel, None)
                try:
                    located = locate(self._root_text, rel)
                    known = index.get(rel)
                    if known is not None and known[0] == located.stamp and self._lookup(known[1], found):
                        digest = known[1]
                    else:
                        data = read(located, self.limits.max_source_bytes)
                        digest = source_hash(data)
                        if not self._lookup(digest, found):
                            pending.setdefault(digest, (data, rel))
                except SourceError as exc:
                    rows.append((rel, None, f"{rel}: {exc}"))
                    continue
                rows.append((rel, digest, None))
                if max(located.stamp[0], located.stamp[3]) < started_ns - RACY_WINDOW_NS:
                    new_index[rel] = (located.stamp, digest)

        if pending:
            outcomes = evaluate(self._get_evaluator(), list(pending.values()))
            for digest, outcome in zip(pending, outcomes, strict=True):
                found[digest] = outcome
                if self._cache:
                    self._cache.put(digest, outcome)

        if self._cache and (stored is None or new_index != stored):
            self._cache.save_index(new_index)
        fresh = {digest: outcome for digest, outcome in found.items() if outcome.cacheable}
        self._known = fresh if whole_repo else {**self._known, **fresh}
        with _collector_paused():
            return [self._entry(rel, digest, found, error) for rel, digest, error in rows]

    def _entry(self, rel: str, digest: str | None, found: Mapping[str, Outcome], error: str | None) -> WorkflowEntry:
        if digest is None:
            return WorkflowEntry(rel, None, None, [], [error or f"{rel}: cannot be read"])
        outcome = found[digest]
        plan = outcome.plan
        return WorkflowEntry(
            rel,
            digest,
            outcome.name,
            outcome.triggers,
            outcome.messages(rel),
            (lambda: plan) if plan is not None else lambda: self._cached_plan(rel, digest, outcome),
        )

    def _cached_plan(self, rel: str, digest: str, summary: Outcome) -> dict[str, Any] | None:
        """The plan behind a cached summary: from the cache, else by evaluating the file again."""
        plan = self._cache.get_plan(digest, summary) if self._cache else None
        if plan is not None:
            return plan
        try:
            data = read(locate(self._root_text, rel), self.limits.max_source_bytes)
        except SourceError:
            return None
        if source_hash(data) != digest:
            return None  # the file changed since the scan: this entry is out of date
        [outcome] = evaluate(self._get_evaluator(), [(data, rel)])
        if self._cache:
            self._cache.put(digest, outcome)
        return outcome.plan

    def _lookup(self, digest: str, found: dict[str, Outcome]) -> bool:
        """Put the outcome for `digest` into `found` from memory or disk; False when unknown."""
        if digest in found:
            return True
        outcome = self._known.get(digest) or (self._cache.get(digest) if self._cache else None)
        if outcome is None:
            return False
        found[digest] = outcome
        return True

    def _get_evaluator(self) -> Evaluator:
        # Chosen only when something must be evaluated: a scan served from the cache
        # never touches the evaluator. Default limits share the process-wide pool.
        if self._evaluator is None:
            if self.limits == Limits():
                self._evaluator = default_evaluator()
            else:
                self._evaluator = Evaluator(limits=self.limits)
                self._owns_evaluator = True
        return self._evaluator

    # --- evaluating for an event ------------------------------------------------

    def evaluate_workflow(
        self, path: str | Path, ctx_data: Mapping[str, Any] | None
    ) -> tuple[dict[str, Any] | None, list[str]]:
        """Evaluate one workflow with a ctx: (validated plan or None, problems)."""
        result = self.evaluate_with_ctx(path, ctx_data)
        return result.plan, result.messages

    def evaluate_with_ctx(self, path: str | Path, ctx_data: Mapping[str, Any] | None) -> CtxEvaluation:
        """As `evaluate_workflow`, with what the evaluation observed of ctx (see `plue.sandbox.context`)."""
        rel = self.relative(path)
        try:
            data = read(locate(self._root_text, rel), self.limits.max_source_bytes)
        except SourceError as exc:
            return CtxEvaluation(None, [f"{rel}: {exc}"], None, None)
        ctx_hash = "none" if ctx_data is None else hashlib.sha256(canonical_json(ctx_data)).hexdigest()
        key = (source_hash(data), ctx_hash)
        outcome = self._ctx_memo.get(key)
        if outcome is None:
            outcome = evaluate(self._get_evaluator(), [(data, rel)], ctx_data)[0]
            if outcome.cacheable:
                self._ctx_memo[key] = outcome
                while len(self._ctx_memo) > CTX_MEMO_SIZE:
                    self._ctx_memo.popitem(last=False)
        if outcome.plan is not None and ctx_data is not None:
            # Triggers are indexed from an evaluation with an empty ctx: a workflow whose
            # triggers change with the event would be started by triggers it does not have.
            indexed = self.load(rel)
            if indexed.ok and indexed.triggers != outcome.plan["triggers"]:
                problem = (
                    f"{rel}: the triggers depend on ctx; they must be the same for every event"
                    " (they are read with an empty ctx, where ctx.event is None)"
                )
                return CtxEvaluation(None, [problem], outcome.reads, source_hash(data))
        # A limit hit (time, CPU, memory) or a crash may not happen again: such outcomes are not reused.
        failure = outcome.failure
        reads = outcome.reads if failure is None or failure.kind not in UNSTABLE_FAILURES else None
        return CtxEvaluation(outcome.plan, outcome.messages(rel), reads, source_hash(data))

    def relative(self, path: str | Path) -> str:
        """`path` (absolute, or relative to the repository) as a repo-relative '/' path.

        Raises ValueError for a path outside the repository.
        """
        candidate = Path(path)
        if candidate.is_absolute():
            # Resolve the directory only: a symlinked file is judged when it is read.
            candidate = candidate.parent.resolve() / candidate.name
            if not candidate.is_relative_to(self.root):
                raise ValueError(f"{path}: not inside the repository {self.root}")
            candidate = candidate.relative_to(self.root)
        rel = PurePosixPath(os.path.normpath(candidate.as_posix()))
        if rel.parts[:1] == ("..",) or rel.is_absolute():
            raise ValueError(f"{path}: not inside the repository {self.root}")
        return rel.as_posix()

    # --- the trigger index ---------------------------------------------------------

    def match(self, event: Event) -> list[MatchResult]:
        """For every workflow: does `event` trigger it, and why (not)."""
        results = []
        for entry in self.entries:
            if not entry.ok:
                reason = f"cannot load the workflow: {entry.problems[0]}"
                results.append(MatchResult(entry, False, reason))
                continue
            try:
                verdict = match_triggers(entry.triggers, event)
            except EventError as exc:  # only a damaged cache can hold triggers that do not parse
                results.append(MatchResult(entry, False, f"invalid trigger: {exc}"))
                continue
            results.append(MatchResult(entry, verdict.matched, verdict.reason))
        return results


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a scan builds many long-lived containers.

    Reading thousands of cached summaries allocates containers that all stay alive;
    the collector would traverse them again and again for nothing (measured: a third
    of a cached re-scan). Reference counting still frees everything that dies. The switch
    is process-wide: concurrent scans may shorten each other's pause, but the last one
    to finish leaves the collector on if it was on.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
