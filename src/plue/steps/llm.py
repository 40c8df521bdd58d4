"""`llm` steps: a Claude agent working on the workspace with tools (`plue.llm`), its lines logged as it goes.

One attempt: the prompt is rendered (an inline ``prompt`` with the step's
``inputs``, partials from ``prompts/`` of the workspace; or a ``prompt_file`` of
the workspace, whose frontmatter gives defaults for the model, tools,
``max_turns`` and the output schema), then `plue.llm.run_agent` runs in an
event loop on this worker thread. The loop is watched every `POLL_SECONDS`: on
cancel or past the deadline its task is cancelled, which closes the open stream,
and a running tool is told to stop its processes (the event loop ends once the
tool's thread has returned).

Log lines: ``system`` "turn N (model)", a usage line per API call, retries and
other notices; ``llm.token`` the assistant's text line by line;
``llm.tool_call`` ``name {json input}``; ``llm.tool_result`` the tool's output
(bounded; the first line starts with ``error: `` for a tool error). The engine
masks secrets in all of them.

The result's ``extra`` is ``{"text", "output", "llm": {"model", "turns",
"stop_reason", "usage", "calls"}}``; a structured output that is a JSON object
is also written to ``$PLUE_OUTPUT``, so its fields are the step's outputs.

`plue.llm` (and the anthropic SDK, slow to import) is imported only when an llm
step runs: commands that run none do not pay for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from plue.engine.events import StepStatus, Stream
from plue.engine.executor import StepContext, StepResult

if TYPE_CHECKING:
    import httpx2

    from plue.llm.agent import AgentResult
    from plue.llm.tools import ToolSelection
    from plue.llm.usage import CallUsage

DEFAULT_MODEL: Final = "claude-sonnet-4-6"
DEFAULT_MAX_TURNS: Final = 20
POLL_SECONDS: Final = 0.05
MAX_TOOL_CALL_CHARS: Final = 2000
MAX_RESULT_LINES: Final = 40
MAX_RESULT_LINE_CHARS: Final = 2000
KEY_VARIABLES: Final = frozenset({"ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"})
REPLAY_API_KEY: Final = "plue-replay-without-a-key"  # never sent anywhere: replay answers from files
MISSING_KEY: Final = (
    "ANTHROPIC_API_KEY is not set; add it as a secret (plue workflow run --secret ANTHROPIC_API_KEY=… or .env)"
)
SYSTEM_PROMPT: Final = (
    "You are running as one step of a Plue workflow, non-interactively: nobody will answer questions, so make"
    " reasonable assumptions and finish the task. The tools work in the repository's working directory; paths"
    " are relative to its root. When you are done, give your final answer as your last reply."
)


@dataclass(frozen=True)
class LlmOptions:
    """How llm steps run here. `record_dir` and `replay_dir` exclude each other."""

    record_dir: Path | None = None  # record every API exchange to DIR/<step-id>/NNN.json
    replay_dir: Path | None = None  # answer from such recordings, with no network and no API key
    default_model: str = DEFAULT_MODEL
    max_retries: int | None = None  # SDK retries per call; None: plue.llm.client.DEFAULT_MAX_RETRIES
    stream_retry_delay: float | None = None  # first backoff after a broken stream; None: the agent's default

    def __post_init__(self) -> None:
        if self.record_dir is not None and self.replay_dir is not None:
            raise ValueError("recording and replaying LLM calls exclude each other; choose one")


class _StepProblem(Exception):
    """The step cannot start: `str()` is the sentence for humans."""


@dataclass(frozen=True)
class _Plan:
    prompt: str
    model: str
    max_turns: int
    tools: list[str] | None
    output_schema: Mapping[str, Any] | None


class LlmExecutor:
    def __init__(self, options: LlmOptions | None = None) -> None:
        self._options = options or LlmOptions()

    def run(self, context: StepContext) -> StepResult:
        from plue.llm.tools import ToolSpecError, parse_tool_specs

        try:
            plan = self._plan(context)
            selection = parse_tool_specs(plan.tools)
            api_key = self._api_key(context)
        except (ToolSpecError, _StepProblem) as exc:
            return StepResult(StepStatus.FAILED, error=str(exc))
        listener = _LogListener(context.log)
        outcome, stopped = _Attempt(self._options, context, plan, listener, selection, api_key).run()
        return _step_result(context, plan, listener, outcome, stopped)

    # --- before any call ------------------------------------------------------------------

    def _plan(self, context: StepContext) -> _Plan:
        from plue.prompts import PromptError, load_prompt, render_inline, render_prompt

        step, workspace = context.step, context.workspace
        inputs = step.get("inputs") or {}
        prompt_file = step.get("prompt_file")
        try:
            if prompt_file:
                loaded = load_prompt(_inside(workspace, str(prompt_file)))
                text = render_prompt(loaded, inputs)
                defaults: dict[str, Any] = {
                    "model": loaded.model,
                    "max_turns": loaded.max_turns,
                    "tools": None if loaded.tools is None else list(loaded.tools),
                    "output_schema": loaded.output,
                }
            else:
                partials = workspace / "prompts"
                text = render_inline(
                    str(step.get("prompt") or ""), inputs, partials_dir=partials if partials.is_dir() else None
                )
                defaults = {}
        except PromptError as exc:
            raise _StepProblem(_relative(str(exc), workspace)) from None
        if not text.strip():
            raise _StepProblem("the prompt is empty once rendered; give it some text (check its inputs)")

        def pick(name: str) -> Any:
            value = step.get(name)
            return value if value is not None else defaults.get(name)

        return _Plan(
            prompt=text,
            model=pick("model") or self._options.default_model,
            max_turns=pick("max_turns") or DEFAULT_MAX_TURNS,
            tools=pick("tools"),
            output_schema=pick("output_schema"),
        )

    def _api_key(self, context: StepContext) -> str:
        if self._options.replay_dir is not None:
            return REPLAY_API_KEY
        key = context.env.get("ANTHROPIC_API_KEY", "").strip()
        if not key:
            raise _StepProblem(MISSING_KEY)
        return key


class _Attempt:
    """One agent run on its own event loop, stopped on cancel or at the deadline."""

    def __init__(
        self,
        options: LlmOptions,
        context: StepContext,
        plan: _Plan,
        listener: _LogListener,
        selection: ToolSelection,
        api_key: str,
    ) -> None:
        self.options = options
        self.context = context
        self.plan = plan
        self.listener = listener
        self.selection = selection
        self.api_key = api_key

    def run(self) -> tuple[AgentResult | None, StepStatus | None]:
        """(the agent's result, None), or (None, CANCELLED or TIMED_OUT) when it was stopped."""
        return asyncio.run(self._main())

    async def _main(self) -> tuple[AgentResult | None, StepStatus | None]:
        from plue.llm.agent import AgentRequest, run_agent
        from plue.llm.client import ClientOptions, make_client
        from plue.llm.tools import Toolbox

        context, plan, options = self.context, self.plan, self.options
        stopped = self._stopped()
        if stopped is not None:  # stopped before it started: no call at all
            return None, stopped
        base_url = context.env.get("ANTHROPIC_BASE_URL") or os.environ.get("ANTHROPIC_BASE_URL") or None
        client_options = ClientOptions(api_key=self.api_key, transport=self._transport())
        if base_url:
            client_options = dataclasses.replace(client_options, base_url=base_url)
        if options.max_retries is not None:
            client_options = dataclasses.replace(client_options, max_retries=options.max_retries)
        client = make_client(client_options, notice=self.listener.on_notice)
        # The key is the executor's, not the agent's: its bash and git do not get it.
        tool_env = {name: value for name, value in context.env.items() if name not in KEY_VARIABLES}
        # Set on cancel and at the deadline alike: a running tool stops its processes either way.
        stop_tools = threading.Event()
        toolbox = Toolbox(context.workspace, self.selection, env=tool_env, cancelled=stop_tools)
        request = AgentRequest(
            client=client,
            model=plan.model,
            prompt=plan.prompt,
            toolbox=toolbox,
            system=SYSTEM_PROMPT,
            max_turns=plan.max_turns,
            output_schema=plan.output_schema,
        )
        if options.stream_retry_delay is not None:
            request = dataclasses.replace(request, stream_retry_delay=options.stream_retry_delay)
        try:
            task = asyncio.create_task(run_agent(request, self.listener))
            while True:
                done, _ = await asyncio.wait({task}, timeout=POLL_SECONDS)
                if done:
                    return task.result(), None
                stopped = self._stopped()
                if stopped is not None:
                    stop_tools.set()
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                    return None, stopped
        finally:
            await client.close()

    def _transport(self) -> httpx2.AsyncBaseTransport | None:
        import httpx2

        from plue.llm.recording import RecordingTransport, ReplayTransport

        step_id = str(self.context.step["id"])
        if self.options.replay_dir is not None:
            return ReplayTransport(self.options.replay_dir, step_id, notice=self.listener.on_notice)
        if self.options.record_dir is not None:
            return RecordingTransport(
                httpx2.AsyncHTTPTransport(), self.options.record_dir, step_id, mask=self.context.mask
            )
        return None

    def _stopped(self) -> StepStatus | None:
        # The engine also sets `cancelled` at the deadline: the deadline is checked first.
        deadline = self.context.deadline
        if deadline is not None and time.monotonic() >= deadline:
            return StepStatus.TIMED_OUT
        if self.context.cancelled.is_set():
            return StepStatus.CANCELLED
        return None


class _LogListener:
    """The agent's events as log lines; keeps the calls for the result."""

    def __init__(self, log: Callable[[Stream, str], None]) -> None:
        self._log = log
        self.calls: list[CallUsage] = []

    def on_turn(self, turn: int, model: str) -> None:
        self._log(Stream.SYSTEM, f"turn {turn} ({model})")

    def on_text(self, line: str) -> None:
        self._log(Stream.LLM_TOKEN, line)

    def on_tool_call(self, turn: int, tool_use_id: str, name: str, input: Mapping[str, Any]) -> None:
        shown = json.dumps(input, ensure_ascii=False, separators=(",", ":"), default=str)
        self._log(Stream.LLM_TOOL_CALL, _bounded(f"{name} {shown}", MAX_TOOL_CALL_CHARS))

    def on_tool_result(self, turn: int, tool_use_id: str, output: str, is_error: bool) -> None:
        lines = output.splitlines() or ["(no output)"]
        shown = lines[:MAX_RESULT_LINES]
        if is_error:
            shown[0] = "error: " + shown[0]
        for line in shown:
            self._log(Stream.LLM_TOOL_RESULT, _bounded(line, MAX_RESULT_LINE_CHARS))
        if len(lines) > MAX_RESULT_LINES:
            self._log(Stream.LLM_TOOL_RESULT, f"… ({len(lines) - MAX_RESULT_LINES} more lines)")

    def on_call(self, usage: CallUsage) -> None:
        self.calls.append(usage)
        self._log(
            Stream.SYSTEM,
            f"turn {usage.turn}: {usage.input_tokens:,} input + {usage.output_tokens:,} output tokens"
            f" (cache {usage.cache_read_tokens:,} read, {usage.cache_write_tokens:,} written),"
            f" {usage.latency_ms / 1000:.1f} s, stop: {usage.stop_reason}",
        )

    def on_notice(self, text: str) -> None:
        self._log(Stream.SYSTEM, text)


def _step_result(
    context: StepContext,
    plan: _Plan,
    listener: _LogListener,
    outcome: AgentResult | None,
    stopped: StepStatus | None,
) -> StepResult:
    from plue.llm.usage import UsageTotals

    calls = list(outcome.calls) if outcome is not None else listener.calls
    totals = UsageTotals.of(calls)
    extra: dict[str, Any] = {
        "text": outcome.text if outcome is not None else "",
        "output": outcome.output if outcome is not None else None,
        "llm": {
            "model": plan.model,
            "turns": outcome.turns if outcome is not None else len({call.turn for call in calls}),
            "stop_reason": outcome.stop_reason if outcome is not None else None,
            "usage": totals.to_dict(),
            "calls": [call.to_dict() for call in calls],
        },
    }
    if calls:
        context.log(
            Stream.SYSTEM,
            f"total: {totals.input_tokens:,} input + {totals.output_tokens:,} output tokens"
            f" (cache {totals.cache_read_tokens:,} read, {totals.cache_write_tokens:,} written),"
            f" estimated ${totals.cost_usd:.4f}",
        )
    if stopped is StepStatus.TIMED_OUT:
        return StepResult(stopped, error=f"timed out after {context.step.get('timeout')}s", extra=extra)
    if stopped is not None:
        return StepResult(stopped, error="cancelled", extra=extra)
    assert outcome is not None
    if not outcome.ok:
        return StepResult(StepStatus.FAILED, error=outcome.error, extra=extra)
    if isinstance(outcome.output, dict):
        try:
            context.output_file.write_text(json.dumps(outcome.output, ensure_ascii=False), encoding="utf-8")
        except OSError as exc:
            return StepResult(
                StepStatus.FAILED, error=f"could not write the step's outputs: {exc.strerror or exc}", extra=extra
            )
    return StepResult(StepStatus.SUCCESS, extra=extra)


def _inside(workspace: Path, relative: str) -> Path:
    """The prompt file's path in the workspace; a path that leads out of it (``..``, absolute, symlink) is refused."""
    root = os.path.realpath(workspace)
    real = os.path.realpath(os.path.join(root, relative))
    if os.path.isabs(relative) or os.path.commonpath([root, real]) != root:
        raise _StepProblem(
            f"prompt_file {relative!r} is outside the repository; give a path inside it, relative to its root"
        )
    return workspace / relative


def _relative(message: str, workspace: Path) -> str:
    """Prompt errors name files relative to the workspace, as the workflow does."""
    for root in {str(workspace), os.path.realpath(workspace)}:
        message = message.replace(root.rstrip("/") + "/", "")
    return message


def _bounded(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
