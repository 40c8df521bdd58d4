"""``ctx``: the read-only data a workflow sees (the event, manual inputs, the repository).

Nested records (``ctx.event``, ``ctx.event.pull_request.base``, ``ctx.repo``) are
`ReadOnly` objects with attribute access; a misspelt attribute raises a clear
`AttributeError` instead of quietly returning ``None``. Free-form data
(``ctx.inputs``, ``ctx.event.payload``) stays plain dicts and lists.

Every way a workflow can learn something about ctx goes through a `ReadOnly` method,
so each method notes what it revealed in `Reads`: the value at a path (a field read;
plain data is noted whole), that a path holds a record (whose own fields are noted as
they are read), or a record's field names (iteration, ``len``, ``in``, a missing
attribute's message). Evaluation is deterministic, so two ctx that agree on every
observation give the same plan: `observe` recomputes an observation from other ctx
data, and the server reuses a plan for an event that agrees with the one it was
evaluated for (``workflow(ctx)`` reading only ``ctx.event.branch`` is evaluated once per
branch, not once per push). ``repr``/``str`` of a record and ``hash`` give its path
only, and reveal nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from typing import Any, Final

# Keys whose values are free-form data rather than records with known fields.
_PLAIN_KEYS = frozenset({"payload", "inputs", "labels", "changed_files"})

# What an observation saw at a path: the plain value, "a record", or a record's field names.
VALUE: Final = "value"
RECORD: Final = "record"
KEYS: Final = "keys"
KINDS: Final = frozenset({VALUE, RECORD, KEYS})

Path = tuple[str, ...]
Observation = tuple[Path, str, str]  # (path from ctx, kind, fingerprint)


def fingerprint(value: Any) -> str:
    """A digest of plain data (JSON-like), the same in the evaluator and the server."""
    try:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    except (TypeError, ValueError, RecursionError):
        text = "unjsonable:" + repr(type(value))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _keys_fingerprint(fields: Mapping[str, Any]) -> str:
    return fingerprint(sorted(fields))


class Reads:
    """The observations one evaluation made of ctx."""

    def __init__(self) -> None:
        self._seen: dict[tuple[Path, str], str] = {}

    def note(self, path: Path, kind: str, digest: str) -> None:
        self._seen.setdefault((path, kind), digest)

    def export(self) -> list[list[Any]]:
        """JSON-able, sorted: ``[[path...], kind, fingerprint]``."""
        return [[list(path), kind, digest] for (path, kind), digest in sorted(self._seen.items())]


class ReadOnly:
    """An immutable record with attribute access, built from plain data."""

    __slots__ = ("_fields", "_path", "_plain", "_reads", "_where")

    def __init__(self, fields: Mapping[str, Any], where: str, path: Path = (), reads: Reads | None = None) -> None:
        object.__setattr__(self, "_where", where)
        object.__setattr__(self, "_path", path)
        object.__setattr__(self, "_plain", fields)
        object.__setattr__(self, "_reads", reads)
        object.__setattr__(
            self,
            "_fields",
            {key: _wrap(value, key, f"{where}.{key}", (*path, key), reads) for key, value in fields.items()},
        )

    def _note_field(self, name: str, value: Any) -> None:
        if self._reads is not None:
            if type(value) is ReadOnly:
                self._reads.note((*self._path, name), RECORD, "")
            else:
                self._reads.note((*self._path, name), VALUE, fingerprint(value))

    def _note_keys(self) -> None:
        if self._reads is not None:
            self._reads.note(self._path, KEYS, _keys_fingerprint(self._fields))

    def _note_whole(self) -> None:
        if self._reads is not None:
            self._reads.note(self._path, VALUE, fingerprint(self._plain))

    @property
    def _public_attrs(self) -> frozenset[str]:
        self._note_keys()
        return frozenset(self._fields)

    def __getattr__(self, name: str) -> Any:
        try:
            value = self._fields[name]
        except KeyError:
            raise AttributeError(self.describe_missing(name)) from None
        self._note_field(name, value)
        return value

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{self._where} is read-only")

    def __getitem__(self, key: str) -> Any:
        try:
            value = self._fields[key]
        except (KeyError, TypeError):
            self._note_keys()
            raise
        self._note_field(key, value)
        return value

    def __iter__(self) -> Iterator[str]:
        self._note_keys()
        return iter(self._fields)

    def __len__(self) -> int:
        self._note_keys()
        return len(self._fields)

    def __contains__(self, key: object) -> bool:
        self._note_keys()
        return key in self._fields

    def __eq__(self, other: object) -> bool:
        self._note_whole()
        if type(other) is not ReadOnly:
            return False
        other._note_whole()
        return bool(other._fields == self._fields)

    def __hash__(self) -> int:
        return hash(self._where)

    def __repr__(self) -> str:
        return f"<{self._where}>"

    def describe_missing(self, name: str) -> str:
        self._note_keys()
        available = ", ".join(sorted(self._fields)) or "none"
        return f"{self._where} has no attribute '{name[:40]}' (available: {available})"


def _wrap(value: Any, key: str, where: str, path: Path, reads: Reads | None) -> Any:
    if _is_record(value, key):
        return ReadOnly(value, where, path, reads)
    return value


def _is_record(value: Any, key: str) -> bool:
    return type(value) is dict and key not in _PLAIN_KEYS


def ctx_fields(data: Mapping[str, Any] | None) -> dict[str, Any]:
    """The top-level fields of ``ctx`` for the ctx data (see `plue.events.build_context_data`)."""
    fields: dict[str, Any] = {
        "event": None,
        "inputs": {},
        "repo": {"name": None, "default_branch": None},
    }
    if data:
        fields.update(data)
    return fields


def make_ctx(data: Mapping[str, Any] | None, reads: Reads | None = None) -> ReadOnly:
    """Build ``ctx`` from the ctx data; what the workflow learns of it is noted in `reads`."""
    return ReadOnly(ctx_fields(data), "ctx", (), reads)


def observe(data: Mapping[str, Any] | None, path: Path, kind: str) -> str | None:
    """The fingerprint an observation (`path`, `kind`) would have with this ctx data; None if the
    workflow could not have made it (the path does not lead to a record here)."""
    record: Any = ctx_fields(data)
    for index, key in enumerate(path):
        if type(record) is not dict or key not in record:
            return None
        value = record[key]
        if not _is_record(value, key):
            # Only the last step may be a plain value; `ReadOnly` wraps dicts of records only.
            return fingerprint(value) if kind == VALUE and index == len(path) - 1 else None
        record = value
    if type(record) is not dict:
        return None
    if kind == KEYS:
        return _keys_fingerprint(record)
    if kind == RECORD:
        return "" if path else None
    return fingerprint(record)  # VALUE of a record: compared whole


def parse_reads(data: object) -> tuple[Observation, ...] | None:
    """Observations sent back by an evaluator, checked; None when malformed."""
    if type(data) is not list or len(data) > 10_000:
        return None
    observations: list[Observation] = []
    for item in data:
        if type(item) is not list or len(item) != 3:
            return None
        path, kind, digest = item
        if type(path) is not list or not all(type(part) is str for part in path):
            return None
        if kind not in KINDS or type(digest) is not str:
            return None
        observations.append((tuple(path), kind, digest))
    return tuple(observations)
