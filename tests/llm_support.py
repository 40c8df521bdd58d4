"""Helpers for the tests of `plue.llm` and the llm step executor: a recording listener, agent and step runners.

The real SDK talks to the fake server (`anthropic_server.FakeAnthropic`) over
real HTTP: nothing of the SDK is patched.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from anthropic_server import API_KEY, FakeAnthropic

from plue.engine import StepContext, StepResult, Stream
from plue.llm.agent import AgentRequest, AgentResult, run_agent
from plue.llm.client import ClientOptions, make_client
from plue.llm.tools import Toolbox, parse_tool_specs
from plue.llm.usage import CallUsage
from plue.steps import LlmExecutor, LlmOptions

MODEL = "claude-sonnet-4-6"


class RecordingListener:
    """Keeps every agent event as a tuple, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def on_turn(self, turn: int, model: str) -> None:
        self.events.append(("turn", turn, model))

    def on_text(self, line: str) -> None:
        self.events.append(("text", line))

    def on_tool_call(self, turn: int, tool_use_id: str, name: str, input: Mapping[str, Any]) -> None:
        self.events.append(("tool_call", turn, tool_use_id, name, dict(input)))

    def on_tool_result(self, turn: int, tool_use_id: str, output: str, is_error: bool) -> None:
        self.events.append(("tool_result", turn, tool_use_id, output, is_error))

    def on_call(self, usage: CallUsage) -> None:
        self.events.append(("call", usage))

    def on_notice(self, text: str) -> None:
        self.events.append(("notice", text))

    def of(self, kind: str) -> list[tuple[Any, ...]]:
        return [event for event in self.events if event[0] == kind]

    def texts(self) -> list[str]:
        return [event[1] for event in self.of("text")]

    def notices(self) -> list[str]:
        return [event[1] for event in self.of("notice")]


CLIENT_OPTIONS = ("api_key", "base_url", "max_retries", "max_retry_wait")


def agent_request(server: FakeAnthropic, workspace: Path, listener: RecordingListener, **options: Any) -> AgentRequest:
    """A request to the fake server. `tools`: tool specs; `api_key`, `base_url`, `max_retries`, `max_retry_wait`:
    the client's (`ClientOptions`); the rest: `AgentRequest`'s."""
    tools = options.pop("tools", None)
    client_options = {"api_key": API_KEY, "base_url": server.url, "max_retries": 2}
    client_options.update({name: options.pop(name) for name in CLIENT_OPTIONS if name in options})
    client = make_client(ClientOptions(**client_options), notice=listener.on_notice)
    toolbox = Toolbox(workspace, parse_tool_specs(tools), env={"PATH": "/usr/bin:/bin"})
    options.setdefault("stream_retry_delay", 0.0)
    return AgentRequest(client=client, model=options.pop("model", MODEL), prompt=options.pop("prompt", "Go"),
                        toolbox=toolbox, **options)  # fmt: skip


def run_agent_now(server: FakeAnthropic, workspace: Path, **options: Any) -> tuple[AgentResult, RecordingListener]:
    listener = RecordingListener()
    request = agent_request(server, workspace, listener, **options)

    async def main() -> AgentResult:
        try:
            return await run_agent(request, listener)
        finally:
            await request.client.close()

    return asyncio.run(main()), listener


@dataclass
class StepRun:
    result: StepResult
    lines: list[tuple[Stream, str]] = field(default_factory=list)

    def texts(self, stream: Stream) -> list[str]:
        return [text for kind, text in self.lines if kind == stream]


def step_context(
    workspace: Path,
    step: Mapping[str, Any],
    lines: list[tuple[Stream, str]],
    *,
    env: Mapping[str, str] | None = None,
    cancelled: threading.Event | None = None,
    deadline: float | None = None,
    mask: Callable[[str], str] = lambda text: text,
) -> StepContext:
    return StepContext(
        run_id="run",
        step={"id": "review", "type": "llm", "timeout": None, "inputs": {}, **step},
        attempt=1,
        workspace=workspace,
        env={"PATH": "/usr/bin:/bin", "ANTHROPIC_API_KEY": API_KEY} if env is None else dict(env),
        output_file=workspace.parent / "review.out",
        log=lambda stream, text: lines.append((stream, text)),
        cancelled=cancelled or threading.Event(),
        deadline=deadline,
        mask=mask,
    )


def run_step(
    workspace: Path,
    step: Mapping[str, Any],
    *,
    server: FakeAnthropic | None = None,
    options: LlmOptions | None = None,
    log_into: list[tuple[Stream, str]] | None = None,
    **context_options: Any,
) -> StepRun:
    """One attempt of an llm step; with `server`, ANTHROPIC_BASE_URL points at it (unless `env` is given).

    `log_into`: the list the lines go to as they are logged (to watch them from another thread).
    """
    if server is not None and "env" not in context_options:
        context_options["env"] = {
            "PATH": "/usr/bin:/bin",
            "ANTHROPIC_API_KEY": API_KEY,
            "ANTHROPIC_BASE_URL": server.url,
        }
    lines: list[tuple[Stream, str]] = [] if log_into is None else log_into
    context = step_context(workspace, step, lines, **context_options)
    executor = LlmExecutor(options or LlmOptions(max_retries=2, stream_retry_delay=0.0))
    return StepRun(executor.run(context), lines)
