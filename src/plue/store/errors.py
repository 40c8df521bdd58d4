"""The store's exceptions."""

from __future__ import annotations


class StoreError(Exception):
    """A call cannot be done: a bad URL, a run or step that does not exist, a transition from the wrong state."""


class StoreUnavailable(StoreError):
    """The database cannot be reached or stayed locked: worth retrying later (nothing was written)."""
