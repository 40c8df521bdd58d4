"""``ctx``: the read-only data a workflow sees (the event, manual inputs, the repository).

Nested records (``ctx.event``, ``ctx.event.pull_request.base``, ``ctx.repo``) are
`ReadOnly` objects with attribute access; a misspelt attribute raises a clear
`AttributeError` instead of quietly returning ``None``. Free-form data
(``ctx.inputs``, ``ctx.event.payload``) stays plain dicts and lists.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

# Keys whose values are free-form data rather than records with known fields.
_PLAIN_KEYS = frozenset({"payload", "inputs", "labels", "changed_files"})


class ReadOnly:
    """An immutable record with attribute access, built from plain data."""

    __slots__ = ("_fields", "_where")

    def __init__(self, fields: Mapping[str, Any], where: str) -> None:
        object.__setattr__(self, "_where", where)
        object.__setattr__(
            self,
            "_fields",
            {key: _wrap(value, key, f"{where}.{key}") for key, value in fields.items()},
        )

    @property
    def _public_attrs(self) -> frozenset[str]:
        return frozenset(self._fields)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._fields[name]
        except KeyError:
            raise AttributeError(self.describe_missing(name)) from None

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{self._where} is read-only")

    def __getitem__(self, key: str) -> Any:
        return self._fields[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __contains__(self, key: object) -> bool:
        return key in self._fields

    def __eq__(self, other: object) -> bool:
        return type(other) is ReadOnly and other._fields == self._fields

    def __hash__(self) -> int:
        return hash(self._where)

    def __repr__(self) -> str:
        return f"<{self._where}>"

    def describe_missing(self, name: str) -> str:
        available = ", ".join(sorted(self._fields)) or "none"
        return f"{self._where} has no attribute '{name[:40]}' (available: {available})"


def _wrap(value: Any, key: str, where: str) -> Any:
    if type(value) is dict and key not in _PLAIN_KEYS:
        return ReadOnly(value, where)
    return value


def make_ctx(data: Mapping[str, Any] | None) -> ReadOnly:
    """Build ``ctx`` from the ctx data (see `plue.events.build_context_data`)."""
    fields: dict[str, Any] = {
        "event": None,
        "inputs": {},
        "repo": {"name": None, "default_branch": None},
    }
    if data:
        fields.update(data)
    return ReadOnly(fields, "ctx")
