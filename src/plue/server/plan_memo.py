"""Plans of ``workflow(ctx)`` evaluations, reused for events that agree on all the workflow looked at.

Evaluation is deterministic, and the evaluator reports what it observed of ctx (see
`plue.sandbox.context`): field values, that a field holds a record, a record's field
names. Another event that gives every one of those observations the same fingerprint
runs the workflow down the same path to the same plan, byte for byte, so the plan is
taken from here instead of forking an evaluator: a workflow that branches on
``ctx.event.branch`` is evaluated once per branch, not once per push. An event that
differs in anything observed (a workflow reading ``ctx.event.sha`` differs on every
push) is evaluated as before.

Entries are keyed by (path, content hash): messages name the path, and another
version of the file is another entry. Bounded: least recently used files go first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from plue.sandbox.context import Observation, observe

FILES_KEPT: Final = 1024  # (path, content hash) entries
SHAPES_PER_FILE: Final = 8  # distinct sets of observations per file (control flow that reads differently)
RESULTS_PER_SHAPE: Final = 256  # distinct observed values per shape (e.g. branches)

Shape = tuple[tuple[tuple[str, ...], str], ...]  # the (path, kind) of each observation, in order
Result = tuple[dict[str, Any] | None, list[str]]  # (validated plan or None, problems)


@dataclass
class _File:
    shapes: OrderedDict[Shape, OrderedDict[tuple[str, ...], Result]] = field(default_factory=OrderedDict)


class PlanMemo:
    """Thread-safe."""

    def __init__(self) -> None:
        self._files: OrderedDict[tuple[str, str], _File] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, path: str, content_hash: str, ctx_data: Mapping[str, Any] | None) -> Result | None:
        """The result of an earlier evaluation this ctx agrees with, or None."""
        with self._lock:
            entry = self._files.get((path, content_hash))
            if entry is None:
                self.misses += 1
                return None
            self._files.move_to_end((path, content_hash))
            shapes = list(entry.shapes.items())
        for shape, results in shapes:
            fingerprints = tuple(observe(ctx_data, observed_path, kind) for observed_path, kind in shape)
            if any(digest is None for digest in fingerprints):
                continue
            with self._lock:
                result = results.get(fingerprints)  # type: ignore[arg-type]
                if result is not None:
                    self.hits += 1
                    return result
        with self._lock:
            self.misses += 1
        return None

    def put(self, path: str, content_hash: str, reads: tuple[Observation, ...], result: Result) -> None:
        shape: Shape = tuple((observed_path, kind) for observed_path, kind, _ in reads)
        fingerprints = tuple(digest for _, _, digest in reads)
        with self._lock:
            key = (path, content_hash)
            entry = self._files.get(key)
            if entry is None:
                entry = self._files[key] = _File()
                while len(self._files) > FILES_KEPT:
                    self._files.popitem(last=False)
            results = entry.shapes.get(shape)
            if results is None:
                results = entry.shapes[shape] = OrderedDict()
                while len(entry.shapes) > SHAPES_PER_FILE:
                    entry.shapes.popitem(last=False)
            results[fingerprints] = result
            while len(results) > RESULTS_PER_SHAPE:
                results.popitem(last=False)
