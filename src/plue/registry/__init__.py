"""The registry: discovery of ``*.plue.py`` files, the content-hash cache, the trigger index."""

from plue.registry.discovery import discover
from plue.registry.registry import MatchResult, Registry, WorkflowEntry

__all__ = ["MatchResult", "Registry", "WorkflowEntry", "discover"]
