"""From a verified webhook delivery to queued runs.

`Ingestor.handle` decides what a delivery means, once per delivery id: a ping, an
unknown repository or an event Plue does not handle is recorded as `ignored`; otherwise
the workflows of the event's commit (push: the pushed commit; pull request: its head;
issues and comments: the default branch's head, as on GitHub) are matched against the
event and each matching one is evaluated with it. The delivery and every run it queues
are recorded in one store call, so a delivery id queues its runs exactly once, even when
GitHub (or a person) sends it again or two server processes receive it at once.

A workflow that fails to evaluate does not stop the others: its problems go into the
delivery's reason (outcome `error` only if no matching workflow could be evaluated).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

from plue.events import GITHUB_EVENTS, Event, EventError, build_context_data, match_triggers, parse_event
from plue.registry import Registry, WorkflowEntry
from plue.registry.source import SourceError, locate, read, source_hash
from plue.sandbox import Evaluator
from plue.server.config import ServerConfig
from plue.server.ctx_free import takes_no_ctx
from plue.server.mirrors import MirrorError, Mirrors
from plue.server.plan_memo import PlanMemo
from plue.store.records import DeliveryRecord, NewDelivery, NewRun

MAX_REASON_CHARS: Final = 4000
CACHE_DIR_NAME: Final = "cache"
SCANS_KEPT: Final = 64  # commit trees whose scan is kept in memory (a tree never changes once made)
NO_CTX_KEPT: Final = 4096  # workflow file versions whose use of ctx is remembered


class DeliveryRecorder(Protocol):
    """What the ingestor needs of the store (`plue.store.Store` is one)."""

    def get_delivery(self, delivery_id: str) -> DeliveryRecord | None: ...

    def record_delivery(self, item: NewDelivery) -> tuple[DeliveryRecord, bool]: ...


@dataclass(frozen=True)
class IngestResult:
    outcome: str  # queued | ignored | error
    reason: str | None
    run_ids: list[int]
    created: bool  # False: the delivery id was handled before; this is that earlier result


@dataclass(frozen=True)
class PreparedDelivery:
    """A delivery decided and ready to record (`Ingestor.prepare`), with the event it was read as."""

    delivery: NewDelivery
    event: Event | None


@dataclass(frozen=True)
class _Decision:
    """What a delivery comes to, before it is recorded."""

    outcome: str
    reason: str | None
    runs: list[NewRun]


class Ingestor:
    """Turns deliveries into runs; thread-safe (call `handle` from any number of threads).

    `on_queued(run_ids)` is called after runs were queued (to wake the workers);
    `on_push(repository, branch, sha)` after each push delivery to a branch (the scheduler
    rebuilds its index when the default branch moves).
    """

    def __init__(
        self,
        config: ServerConfig,
        store: DeliveryRecorder,
        mirrors: Mirrors,
        evaluator: Evaluator | None = None,
        *,
        on_queued: Callable[[list[int]], None] | None = None,
        on_push: Callable[[str, str, str | None], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.store = store
        self.mirrors = mirrors
        self.evaluator = evaluator
        self.on_queued = on_queued
        self.on_push = on_push
        self.clock = clock
        # Outcomes are cached by content hash: one directory serves every tree of every repository.
        self.cache_dir = config.data_dir / CACHE_DIR_NAME
        # Repeated deliveries for one commit (pushes, comments, redeliveries) skip `git ls-files` and the
        # cache index: the scan of a tree is kept, as is whether a file's plan ignores the event.
        self._scans: OrderedDict[Path, list[WorkflowEntry]] = OrderedDict()
        self._no_ctx: dict[str, bool] = {}  # content hash -> its workflow() takes no ctx
        self.plans = PlanMemo()  # plans of workflow(ctx), reused for events that agree on what it read
        self._memo_lock = threading.Lock()

    def handle(
        self, event_name: str, delivery_id: str, payload: dict[str, Any], *, note: str | None = None
    ) -> IngestResult:
        """`note` leads the recorded reason (a redelivery says which delivery it repeats)."""
        prepared = self.prepare(event_name, delivery_id, payload, note=note)
        record, created = self.store.record_delivery(prepared.delivery)
        return self.finish(prepared, record, created)

    def prepare_from_memory(
        self, event_name: str, delivery_id: str, payload: dict[str, Any]
    ) -> PreparedDelivery | None:
        """`prepare`, if it needs nothing but what this ingestor remembers (the commit's tree is made, its
        scan and the plans kept): no git, no file, no sandbox, so it may run on the event loop. None
        when it would need any of those: then call `prepare` from a thread."""
        try:
            return self.prepare(event_name, delivery_id, payload, may_block=False)
        except _WouldBlock:
            return None

    def prepare(
        self,
        event_name: str,
        delivery_id: str,
        payload: dict[str, Any],
        *,
        note: str | None = None,
        may_block: bool = True,
    ) -> PreparedDelivery:
        """What the delivery comes to, ready to record (may run git and the sandbox: call it from a thread).

        No look-up of the id first: it would cost every delivery a transaction to spare the rare
        redelivery a decision, which is cheap once the commit is known. Recording is what makes a
        delivery id queue its runs once: a redelivery gets the first delivery's record.
        """
        received_at = self.clock()
        action = payload.get("action") if isinstance(payload.get("action"), str) else None
        repository = _repository_name(payload)
        decision, event = self._decide(event_name, repository, payload, may_block)
        reason = _capped("; ".join(part for part in (note, decision.reason) if part) or None)
        delivery = NewDelivery(
            delivery_id,
            event_name,
            action,
            repository,
            payload,
            decision.outcome,
            reason,
            tuple(decision.runs),
            received_at,
        )
        return PreparedDelivery(delivery, event)

    def finish(self, prepared: PreparedDelivery, record: DeliveryRecord, created: bool) -> IngestResult:
        """The delivery is recorded: tell the workers and the scheduler (cheap, thread-safe); what came of it."""
        if created and record.run_ids and self.on_queued is not None:
            self.on_queued(list(record.run_ids))
        event = prepared.event
        if created and event is not None and event.name == "push" and event.branch and self.on_push is not None:
            self.on_push(record.repository or "", event.branch, event.sha)
        return IngestResult(record.outcome, record.reason, list(record.run_ids), created)

    # --- deciding ----------------------------------------------------------------------

    def _decide(
        self, event_name: str, repository: str | None, payload: dict[str, Any], may_block: bool
    ) -> tuple[_Decision, Event | None]:
        if event_name == "ping":
            return _Decision("ignored", "ping", []), None
        if repository is None:
            return _Decision("ignored", "the payload names no repository", []), None
        mirror = self.mirrors.get(repository)
        if mirror is None:
            return _Decision("ignored", f"repository {repository} is not configured", []), None
        if event_name not in GITHUB_EVENTS:
            return _Decision("ignored", f"{event_name!r} events are not handled", []), None
        try:
            event = parse_event(event_name, payload)
        except EventError as exc:
            return _Decision("error", f"the {event_name} payload cannot be used: {exc}", []), None
        if event.name == "push" and event.deleted:
            return _Decision("ignored", f"{event.ref} was deleted: there is no commit to run", []), event
        try:
            sha = event.sha
            if sha is None:  # issues and comments run the default branch, as on GitHub
                if not may_block:
                    raise _WouldBlock
                branch = event.default_branch or mirror.config.default_branch
                sha = mirror.resolve(branch)
            tree = mirror.checkout(sha) if may_block else mirror.made_tree(sha)
        except MirrorError as exc:
            return _Decision("error", str(exc), []), event
        if tree is None:
            raise _WouldBlock
        return self._runs_for(event, repository, sha, tree, may_block), event

    def _runs_for(self, event: Event, repository: str, sha: str, tree: Path, may_block: bool) -> _Decision:
        runs: list[NewRun] = []
        problems: list[str] = []
        with _Lazy(tree, self.evaluator, self.cache_dir, may_block) as registry:
            matched = [entry for entry in self._entries(tree, registry) if _triggered(entry, event)]
            if not matched:
                return _Decision("ignored", f"no workflow at {sha[:12]} is triggered by this {event.name} event", [])
            # Shared, not copied (a webhook payload is thousands of values): nothing here changes it, the
            # sandbox gets its own copy and the store writes it out.
            ctx = build_context_data(event, share=True)
            for entry in matched:
                plan: dict[str, Any] | None
                messages: list[str]
                if self._takes_no_ctx(registry, entry) and entry.plan is not None:
                    plan, messages = entry.plan, []  # the same for every event: evaluated once, with an empty ctx
                else:
                    plan, messages = self._evaluate(registry, entry, ctx)
                if plan is None or messages:
                    problems += messages or [f"{entry.path}: the workflow gave no plan for this event"]
                    continue
                runs.append(
                    NewRun.from_plan(
                        entry.path,
                        plan,
                        event_name=event.name,
                        event=ctx["event"],
                        inputs=ctx["inputs"],
                        repository=repository,
                        sha=sha,
                        ref=event.ref,
                        branch=event.branch,
                    )
                )
        reason = "; ".join(problems) if problems else None
        return _Decision("queued" if runs else "error", reason, runs)

    def _evaluate(
        self, registry: _Lazy, entry: WorkflowEntry, ctx: dict[str, Any]
    ) -> tuple[dict[str, Any] | None, list[str]]:
        """The workflow's plan for this event: from the memo when an earlier event agrees on everything
        the evaluation observed of ctx, else evaluated (and remembered)."""
        digest = entry.content_hash
        if digest is not None:
            known = self.plans.get(entry.path, digest, ctx)
            if known is not None:
                return known
        result = registry.get().evaluate_with_ctx(entry.path, ctx)
        if result.reads is not None and result.content_hash is not None and result.content_hash == digest:
            self.plans.put(entry.path, result.content_hash, result.reads, (result.plan, result.messages))
        return result.plan, result.messages

    def _entries(self, tree: Path, registry: _Lazy) -> list[WorkflowEntry]:
        """The workflows of a commit's tree: scanned once, then from memory while the tree is among the last used."""
        with self._memo_lock:
            entries = self._scans.get(tree)
            if entries is not None:
                self._scans.move_to_end(tree)
                return entries
        entries = registry.get().scan()
        # A broken file may have failed for a passing reason (a crashed evaluator): scanned again next time.
        if all(entry.ok for entry in entries):
            with self._memo_lock:
                self._scans[tree] = entries
                while len(self._scans) > SCANS_KEPT:
                    self._scans.popitem(last=False)
        return entries

    def _takes_no_ctx(self, lazy: _Lazy, entry: WorkflowEntry) -> bool:
        digest = entry.content_hash
        if digest is None:
            return False
        with self._memo_lock:
            known = self._no_ctx.get(digest)
        if known is not None:
            return known
        try:
            registry = lazy.get()
            source = read(locate(str(registry.root), entry.path), registry.limits.max_source_bytes)
        except SourceError:
            return False
        answer = source_hash(source) == digest and takes_no_ctx(source)
        with self._memo_lock:
            if len(self._no_ctx) >= NO_CTX_KEPT:
                self._no_ctx.clear()
            self._no_ctx[digest] = answer
        return answer


class _WouldBlock(Exception):
    """`prepare_from_memory` needs git, a file or the sandbox: `prepare` it from a thread instead."""


class _Lazy:
    """The registry of a commit's tree, made only if a delivery needs it: one whose scan and plans are
    remembered needs none, and making one costs path resolution and the cache's set-up. Everything that
    reads files or evaluates goes through it, so without `may_block` it refuses (`_WouldBlock`)."""

    def __init__(self, tree: Path, evaluator: Evaluator | None, cache_dir: Path, may_block: bool = True) -> None:
        self._arguments = (tree, evaluator, cache_dir)
        self._may_block = may_block
        self._registry: Registry | None = None

    def get(self) -> Registry:
        if not self._may_block:
            raise _WouldBlock
        if self._registry is None:
            self._registry = Registry(*self._arguments)
        return self._registry

    def __enter__(self) -> _Lazy:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._registry is not None:
            self._registry.close()


def _triggered(entry: WorkflowEntry, event: Event) -> bool:
    """As `Registry.match`: a workflow that does not load, or whose triggers do not parse, is not triggered."""
    if not entry.ok:
        return False
    try:
        return match_triggers(entry.triggers, event).matched
    except EventError:
        return False


def _repository_name(payload: dict[str, Any]) -> str | None:
    repository = payload.get("repository")
    name = repository.get("full_name") if isinstance(repository, dict) else None
    return name if isinstance(name, str) and name else None


def _capped(reason: str | None) -> str | None:
    if reason is None or len(reason) <= MAX_REASON_CHARS:
        return reason
    return reason[: MAX_REASON_CHARS - 3] + "..."
