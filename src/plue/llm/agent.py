"""The agent loop: a conversation with Claude in which it may call tools, until it is done.

Each turn is one streamed API call (``client.messages.stream``) with the
conversation so far and the tool definitions. The reply's text is reported line
by line as it streams. Then, by the reply's ``stop_reason``:

- ``tool_use``: every ``tool_use`` block of the reply runs, in order (each in a
  worker thread: tools block), and all their results go back in one user
  message (``is_error`` for tool errors); the next turn follows. A tool error is
  the model's to handle: it never ends the run.
- ``end_turn`` (or ``stop_sequence``): done. With an output schema the final
  text must hold a valid JSON value (`plue.llm.structured`); if it does not,
  the violations go back to the model, at most `VALIDATION_RETRIES` times.
- ``pause_turn``: the API paused a long turn; the reply is sent back as is so it
  continues.
- ``max_tokens``, ``refusal``, ``model_context_window_exceeded``: failures, said
  as such. Reaching ``max_turns`` without finishing is a failure too.

Retries: the SDK retries a call that fails before its reply starts (HTTP 429,
529, 5xx, connection errors; see `plue.llm.client`). A reply that breaks
mid-stream (the connection drops, or the API sends an ``overloaded_error``
event) is retried here, with backoff, up to ``stream_retries`` times; lines of
the interrupted reply already reported are not reported again (the retried
reply's first lines are compared with them; where it diverges, a notice says so
and its own lines follow).

`run_agent` returns an `AgentResult` for every outcome except cancellation:
cancel its task to stop it (the open stream is closed on the way out).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

import anthropic
import httpx2

from plue.llm.client import describe_transport_error
from plue.llm.lines import TextLines
from plue.llm.listener import AgentListener
from plue.llm.pricing import estimate_cost
from plue.llm.recording import ReplayMissing
from plue.llm.structured import SchemaProblem, check_reply, check_schema, feedback, instruction
from plue.llm.usage import CallUsage, UsageTotals

DEFAULT_MAX_TOKENS: Final = 8192
DEFAULT_MAX_TURNS: Final = 20
VALIDATION_RETRIES: Final = 2
STREAM_RETRIES: Final = 3
STREAM_RETRY_DELAY_SECONDS: Final = 1.0  # doubled after each retry, up to `MAX_STREAM_RETRY_DELAY_SECONDS`
MAX_STREAM_RETRY_DELAY_SECONDS: Final = 30.0
MAX_DETAIL_CHARS: Final = 300
_RETRIED_STREAM_ERRORS: Final = frozenset({"overloaded_error", "api_error", "rate_limit_error"})


class ToolOutcomeLike(Protocol):
    @property
    def output(self) -> str: ...

    @property
    def is_error(self) -> bool: ...


class Tools(Protocol):
    """What the loop needs of a toolbox (`plue.llm.tools.Toolbox`)."""

    def definitions(self) -> list[dict[str, Any]]: ...

    def run(self, name: str, tool_input: Any) -> ToolOutcomeLike: ...


@dataclass(frozen=True)
class AgentRequest:
    client: anthropic.AsyncAnthropic
    model: str
    prompt: str  # the user message
    toolbox: Tools
    system: str | None = None
    max_tokens: int = DEFAULT_MAX_TOKENS  # per reply
    max_turns: int = DEFAULT_MAX_TURNS
    output_schema: Mapping[str, Any] | None = None  # JSON Schema of a structured result
    cache: bool = True  # automatic prompt caching: each turn re-sends the conversation so far
    stream_retries: int = STREAM_RETRIES
    stream_retry_delay: float = STREAM_RETRY_DELAY_SECONDS
    validation_retries: int = VALIDATION_RETRIES


@dataclass(frozen=True)
class AgentResult:
    ok: bool
    text: str  # all assistant text of the last turn
    output: Any  # the structured value (with an output schema and success), else None
    stop_reason: str | None  # of the last reply
    turns: int
    calls: tuple[CallUsage, ...]
    error: str | None = None  # why it failed: one sentence for humans

    @property
    def usage(self) -> UsageTotals:
        return UsageTotals.of(self.calls)


async def run_agent(request: AgentRequest, listener: AgentListener) -> AgentResult:
    """Run the conversation to its end. Cancel the task to stop it."""
    return await _Agent(request, listener).run()


class _Failure(Exception):
    """Ends the run as failed; `str()` is the sentence for humans."""


@dataclass
class _Turn:
    """What the loop keeps of the last reply."""

    text: str = ""
    stop_reason: str | None = None


class _Agent:
    def __init__(self, request: AgentRequest, listener: AgentListener) -> None:
        self.request = request
        self.listener = listener
        self.messages: list[Any] = [{"role": "user", "content": request.prompt}]  # MessageParam dicts
        self.calls: list[CallUsage] = []
        self.turn = 0
        self.last = _Turn()

    async def run(self) -> AgentResult:
        request = self.request
        try:
            if request.output_schema is not None:
                check_schema(request.output_schema)
            retirement = _retirement(request.model)
            if retirement is not None:
                self.listener.on_notice(
                    f"warning: the model {request.model} is deprecated and will be retired on {retirement};"
                    " choose a newer model"
                )
            return await self._loop(self._params())
        except (_Failure, SchemaProblem) as exc:
            return self._result(error=str(exc))

    def _params(self) -> dict[str, Any]:
        request = self.request
        params: dict[str, Any] = {"model": request.model, "max_tokens": request.max_tokens}
        system = [request.system] if request.system else []
        if request.output_schema is not None:
            system.append(instruction(request.output_schema))
        if system:
            params["system"] = "\n\n".join(system)
        tools = request.toolbox.definitions()
        if tools:
            params["tools"] = tools
        if request.cache:
            params["cache_control"] = {"type": "ephemeral"}
        return params

    async def _loop(self, params: dict[str, Any]) -> AgentResult:
        request, listener = self.request, self.listener
        corrections = 0
        while self.turn < request.max_turns:
            self.turn += 1
            listener.on_turn(self.turn, request.model)
            message = await self._call(params)
            stop = message.stop_reason
            self.last = _Turn(_text_of(message), stop)
            content = _assistant_content(message)
            if stop == "tool_use":
                if self.turn == request.max_turns:
                    break  # its tools would run for a conversation that cannot go on
                self.messages.append({"role": "assistant", "content": content})
                self.messages.append({"role": "user", "content": await self._run_tools(message)})
            elif stop == "pause_turn":
                self.messages.append({"role": "assistant", "content": content})
            elif stop in ("end_turn", "stop_sequence"):
                if request.output_schema is None:
                    return self._result()
                checked = check_reply(self.last.text, request.output_schema)
                if checked.ok:
                    return self._result(output=checked.value)
                if corrections == request.validation_retries:
                    listed = "; ".join(checked.violations)
                    raise _Failure(
                        f"the final reply does not match the output schema ({listed}) after {corrections}"
                        " correction(s); make the prompt ask for that JSON clearly"
                    )
                if self.turn == request.max_turns:
                    break
                corrections += 1
                listener.on_notice(
                    f"the reply does not match the output schema ({len(checked.violations)} problem(s));"
                    f" asking for a corrected one ({corrections} of {request.validation_retries})"
                )
                if content:  # an empty assistant turn cannot be sent back
                    self.messages.append({"role": "assistant", "content": content})
                self.messages.append({"role": "user", "content": feedback(checked.violations)})
            else:
                raise _Failure(_stop_problem(stop, request.max_tokens))
        raise _Failure(
            f"the agent did not finish within max_turns={request.max_turns} turns;"
            " raise max_turns or simplify the prompt"
        )

    def _result(self, *, output: Any = None, error: str | None = None) -> AgentResult:
        return AgentResult(
            ok=error is None,
            text=self.last.text,
            output=output,
            stop_reason=self.last.stop_reason,
            turns=self.turn,
            calls=tuple(self.calls),
            error=error,
        )

    # --- one call, with retries of a reply that breaks mid-stream -------------------------

    async def _call(self, params: dict[str, Any]) -> Any:
        request = self.request
        reported: list[str] = []  # the lines of this turn given to the listener, over every attempt
        problem = ""
        for attempt in range(request.stream_retries + 1):
            if attempt:
                delay = min(request.stream_retry_delay * 2 ** (attempt - 1), MAX_STREAM_RETRY_DELAY_SECONDS)
                self.listener.on_notice(
                    f"{problem}; retrying the call in {delay:.1f} s ({attempt} of {request.stream_retries})"
                )
                await asyncio.sleep(delay)
            lines = _Dedupe(self.listener, reported)
            splitter = TextLines(lines.line)
            started = time.monotonic()
            streaming = False
            try:
                async with request.client.messages.stream(messages=list(self.messages), **params) as stream:
                    streaming = True
                    async for event in stream:
                        if event.type == "content_block_delta" and event.delta.type == "text_delta":
                            splitter.feed(event.delta.text)
                        elif event.type == "content_block_stop":
                            splitter.flush()
                    message = await stream.get_final_message()
                    request_id = stream.request_id
            except anthropic.APIStatusError as exc:
                if not streaming or _error_type(exc.body) not in _RETRIED_STREAM_ERRORS:
                    raise _Failure(describe_api_error(exc, request.client.max_retries)) from None
                problem = f"the API sent an error mid-reply ({_detail(exc)})"
            except anthropic.AnthropicError as exc:
                raise _Failure(describe_api_error(exc, request.client.max_retries)) from None
            except httpx2.TransportError as exc:
                problem = f"the connection dropped mid-reply ({describe_transport_error(exc)})"
            except ValueError as exc:  # the SDK could not parse a tool call's JSON input
                problem = f"the reply could not be read ({_bounded(str(exc))})"
            else:
                self._record(message, request_id, started)
                return message
        raise _Failure(f"{problem}, and {request.stream_retries} retries did not help; try again later")

    def _record(self, message: Any, request_id: str | None, started: float) -> None:
        usage = message.usage
        input_tokens = usage.input_tokens or 0
        output_tokens = usage.output_tokens or 0
        cache_read = usage.cache_read_input_tokens or 0
        cache_write = usage.cache_creation_input_tokens or 0
        model = str(message.model or self.request.model)
        call = CallUsage(
            turn=self.turn,
            model=model,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cache_read_tokens=cache_read,
            cache_write_tokens=cache_write,
            latency_ms=round((time.monotonic() - started) * 1000),
            stop_reason=message.stop_reason,
            request_id=request_id,
            at=time.time(),
            cost_usd=estimate_cost(
                model,
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                cache_read_tokens=cache_read,
                cache_write_tokens=cache_write,
            ),
        )
        self.calls.append(call)
        self.listener.on_call(call)

    # --- tools ------------------------------------------------------------------------------

    async def _run_tools(self, message: Any) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = []
        for block in message.content:
            if block.type != "tool_use":
                continue
            tool_input = block.input
            self.listener.on_tool_call(
                self.turn, block.id, block.name, tool_input if isinstance(tool_input, Mapping) else {}
            )
            try:
                outcome = await asyncio.to_thread(self.request.toolbox.run, block.name, tool_input)
                output, is_error = str(outcome.output), bool(outcome.is_error)
            except Exception as exc:  # a toolbox must not raise; if it does, the model hears of it
                output, is_error = f"the tool {block.name} failed: {type(exc).__name__}: {exc}", True
            self.listener.on_tool_result(self.turn, block.id, output, is_error)
            result: dict[str, Any] = {"type": "tool_result", "tool_use_id": block.id, "content": output or "(empty)"}
            if is_error:
                result["is_error"] = True
            results.append(result)
        return results


class _Dedupe:
    """Reports a retried reply's lines, skipping those the interrupted attempts already reported."""

    def __init__(self, listener: AgentListener, reported: list[str]) -> None:
        self._listener = listener
        self._reported = reported  # appended to: lines reported in this turn
        self._previous = list(reported)
        self._position = 0
        self._diverged = False

    def line(self, text: str) -> None:
        if not self._diverged and self._position < len(self._previous):
            if text == self._previous[self._position]:
                self._position += 1
                return
            self._diverged = True
            self._listener.on_notice(
                f"the retried reply differs from the interrupted one after {self._position} line(s);"
                " the new reply's lines follow"
            )
        self._reported.append(text)
        self._listener.on_text(text)


# --- messages ---------------------------------------------------------------------------------


def _text_of(message: Any) -> str:
    return "\n".join(block.text for block in message.content if block.type == "text" and block.text)


def _assistant_content(message: Any) -> list[dict[str, Any]]:
    """The reply as content to send back: the blocks the API accepts as input, without output-only fields."""
    content: list[dict[str, Any]] = []
    for block in message.content:
        if block.type == "text":
            if block.text:  # the API refuses empty text blocks
                content.append({"type": "text", "text": block.text})
        elif block.type == "tool_use":
            content.append({"type": "tool_use", "id": block.id, "name": block.name, "input": block.input})
        elif block.type == "thinking":
            content.append({"type": "thinking", "thinking": block.thinking, "signature": block.signature})
        elif block.type == "redacted_thinking":
            content.append({"type": "redacted_thinking", "data": block.data})
        else:
            content.append(block.to_dict(exclude_none=True))
    return content


def _retirement(model: str) -> str | None:
    """When the SDK says a model will be retired (it also warns, but only a developer sees Python warnings)."""
    try:
        from anthropic._data.deprecated_models import DEPRECATED_MODELS
    except ImportError:  # a private table: an SDK without it just says nothing
        return None
    return DEPRECATED_MODELS.get(model)


def _stop_problem(stop: str | None, max_tokens: int) -> str:
    if stop == "max_tokens":
        return f"the reply was cut off at max_tokens={max_tokens}; ask for a shorter answer or split the task"
    if stop == "refusal":
        return "the model refused to continue (stop reason: refusal); review the prompt and the inputs"
    if stop == "model_context_window_exceeded":
        return "the conversation outgrew the model's context window; simplify the task or lower max_turns"
    return f"the model stopped for an unexpected reason ({stop}); try again"


# --- errors -----------------------------------------------------------------------------------


def describe_api_error(exc: anthropic.AnthropicError, max_retries: int) -> str:
    """One sentence for an API failure: what went wrong and what to do."""
    if isinstance(exc, ReplayMissing):
        return str(exc)
    if isinstance(exc, anthropic.APITimeoutError):
        return "the API did not answer in time; try again later"
    if isinstance(exc, anthropic.APIConnectionError):
        cause = exc.__cause__ or exc
        return (
            f"could not reach the API at {exc.request.url.scheme}://{exc.request.url.netloc.decode()}"
            f" ({describe_transport_error(cause)}) after {max_retries} retries;"
            " check the network and ANTHROPIC_BASE_URL"
        )
    if isinstance(exc, anthropic.APIStatusError):
        status, detail = exc.status_code, _detail(exc)
        if status == 401:
            return f"the API refused the API key ({detail}); check the ANTHROPIC_API_KEY secret"
        if status == 403:
            return f"the API key is not allowed to do this ({detail}); check the key's workspace and permissions"
        if status == 404:
            return f"the API did not find what was asked for ({detail}); check the model name"
        if status == 429 or status >= 500:
            return f"the API kept failing ({detail}) after {max_retries} retries; try again later"
        return f"the API rejected the request ({detail})"
    return f"the API call failed: {_bounded(str(exc))}"


def _detail(exc: anthropic.APIStatusError) -> str:
    kind, text = _error_type(exc.body), _error_message(exc.body)
    detail = f"HTTP {exc.status_code}" if exc.status_code != 200 else "mid-stream"
    if kind:
        detail += f" {kind}"
    if text:
        detail += f": {_bounded(text)}"
    return detail


def _error_object(body: object) -> Mapping[str, Any]:
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping):
            return error
    return {}


def _error_type(body: object) -> str:
    return str(_error_object(body).get("type") or "")


def _error_message(body: object) -> str:
    return str(_error_object(body).get("message") or "")


def _bounded(text: str) -> str:
    return text if len(text) <= MAX_DETAIL_CHARS else text[: MAX_DETAIL_CHARS - 1] + "…"
