"""What a tool call gives back to the model, and the error a tool raises to say it could not act."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ToolOutcome:
    output: str  # what the model sees (bounded)
    is_error: bool = False


class ToolError(Exception):
    """A refusal or failure the model should see as the tool's result: one sentence on what to do instead."""
