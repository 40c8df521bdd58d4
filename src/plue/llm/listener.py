"""What the agent loop reports as it goes: `AgentListener`. The step executor turns it into log lines."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from plue.llm.usage import CallUsage


class AgentListener(Protocol):
    """Called on the agent's event loop thread, in order. A listener must not block for long."""

    def on_turn(self, turn: int, model: str) -> None:
        """A turn (one API call, with its mid-reply retries) starts."""

    def on_text(self, line: str) -> None:
        """One line of the assistant's text, without its newline (the last line of a text block is flushed)."""

    def on_tool_call(self, turn: int, tool_use_id: str, name: str, input: Mapping[str, Any]) -> None:
        """The model asked for a tool; it runs next."""

    def on_tool_result(self, turn: int, tool_use_id: str, output: str, is_error: bool) -> None:
        """What the tool gave back (sent to the model as the tool_result)."""

    def on_call(self, usage: CallUsage) -> None:
        """An API call ended with a complete reply."""

    def on_notice(self, text: str) -> None:
        """A note for humans: a retry, a reply that did not match the output schema, a replay mismatch."""


class QuietListener:
    """A listener that ignores everything (the base for listeners that want only some events)."""

    def on_turn(self, turn: int, model: str) -> None:
        pass

    def on_text(self, line: str) -> None:
        pass

    def on_tool_call(self, turn: int, tool_use_id: str, name: str, input: Mapping[str, Any]) -> None:
        pass

    def on_tool_result(self, turn: int, tool_use_id: str, output: str, is_error: bool) -> None:
        pass

    def on_call(self, usage: CallUsage) -> None:
        pass

    def on_notice(self, text: str) -> None:
        pass
