"""Engine events as plain JSON data: what a runner sends the server (`POST /api/attempts/{id}/events`).

    encode(event) -> dict        one JSON object per event, with a "type"
    decode(data)  -> EngineEvent  strict: WireError (one sentence) for anything else, never another exception

The objects, by type (times are float UNIX seconds):

    run_started    {at}
    step_started   {step_id, attempt, at}
    step_logs      {lines: [[step_id, attempt, seq, stream, at, text], ...]}
    step_finished  {step_id, attempt, status, started_at, finished_at, exit_code, outputs, error, will_retry, extra}
    step_skipped   {step_id, reason, at, status}
    step_reused    {step_id, outputs, exit_code, at}
    run_finished   {status, at, error}

The server decodes every event a runner sends before it stores anything, so `decode` checks types,
enums and sizes, and refuses unknown types and unknown keys (a runner and its server speak the same
version). `encode` cuts over-long text to the limits `decode` enforces, so what it writes always decodes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, Final

from plue.engine.events import (
    EngineEvent,
    LogLine,
    RunFinished,
    RunStarted,
    RunStatus,
    StepFinished,
    StepLogs,
    StepReused,
    StepSkipped,
    StepStarted,
    StepStatus,
    Stream,
)
from plue.plan import STEP_ID_RE

MAX_TEXT_CHARS: Final = 64 * 1024  # a log line (the step executors cut lines at 64 KiB)
MAX_MESSAGE_CHARS: Final = 64 * 1024  # an error or a skip reason
MAX_OUTPUTS_CHARS: Final = 2 * 1024 * 1024  # keys and values together ($PLUE_OUTPUT is read up to 1 MiB)
MAX_EXTRA_CHARS: Final = 4 * 1024 * 1024  # the strings of a step's `extra` (llm text, output, usage)
MAX_EXTRA_DEPTH: Final = 32
MAX_LINES: Final = 100_000  # log lines in one step_logs event
MAX_STEP_ID_CHARS: Final = 200
MAX_ATTEMPT: Final = 1_000_000
MAX_SEQ: Final = 2**62
MAX_EXIT_CODE: Final = 2**31

FINISHED_STEP_STATUSES: Final = frozenset(
    {StepStatus.SUCCESS, StepStatus.FAILED, StepStatus.TIMED_OUT, StepStatus.CANCELLED}
)
NEVER_STARTED_STATUSES: Final = frozenset({StepStatus.SKIPPED, StepStatus.CANCELLED})
FINISHED_RUN_STATUSES: Final = frozenset({RunStatus.SUCCESS, RunStatus.FAILED, RunStatus.CANCELLED})

EVENT_TYPES: Final = (
    "run_started",
    "step_started",
    "step_logs",
    "step_finished",
    "step_skipped",
    "step_reused",
    "run_finished",
)


class WireError(ValueError):
    """Data that is not an engine event of this wire format (the message says what is wrong)."""


# --- encode ----------------------------------------------------------------------------------------


def encode(event: EngineEvent) -> dict[str, Any]:
    """The event as plain JSON data (text cut to the limits `decode` accepts)."""
    match event:
        case RunStarted(at=at):
            return {"type": "run_started", "at": at}
        case StepStarted(step_id=step_id, attempt=attempt, at=at):
            return {"type": "step_started", "step_id": step_id, "attempt": attempt, "at": at}
        case StepLogs(lines=lines):
            return {
                "type": "step_logs",
                "lines": [
                    [line.step_id, line.attempt, line.seq, str(line.stream), line.at, _cut(line.text, MAX_TEXT_CHARS)]
                    for line in lines
                ],
            }
        case StepFinished() as finished:
            return {
                "type": "step_finished",
                "step_id": finished.step_id,
                "attempt": finished.attempt,
                "status": str(finished.status),
                "started_at": finished.started_at,
                "finished_at": finished.finished_at,
                "exit_code": finished.exit_code,
                "outputs": dict(finished.outputs),
                "error": _cut_optional(finished.error, MAX_MESSAGE_CHARS),
                "will_retry": finished.will_retry,
                "extra": _plain(finished.extra),
            }
        case StepSkipped(step_id=step_id, reason=reason, at=at, status=status):
            return {
                "type": "step_skipped",
                "step_id": step_id,
                "reason": _cut(reason, MAX_MESSAGE_CHARS),
                "at": at,
                "status": str(status),
            }
        case StepReused(step_id=step_id, outputs=outputs, exit_code=exit_code, at=at):
            return {
                "type": "step_reused",
                "step_id": step_id,
                "outputs": dict(outputs),
                "exit_code": exit_code,
                "at": at,
            }
        case RunFinished(status=status, at=at, error=error):
            return {
                "type": "run_finished",
                "status": str(status),
                "at": at,
                "error": _cut_optional(error, MAX_MESSAGE_CHARS),
            }
    raise TypeError(f"not an engine event: {type(event).__name__}")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cut_optional(text: str | None, limit: int) -> str | None:
    return None if text is None else _cut(text, limit)


def _plain(value: Any) -> Any:
    """`value` as JSON data: tuples as lists, keys as strings, non-finite numbers as null, other objects as text."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return str(value)


# --- decode ----------------------------------------------------------------------------------------


def decode(data: object, *, run_id: str = "") -> EngineEvent:
    """The engine event `data` describes; `run_id` fills `RunStarted.run_id` (not on the wire)."""
    fields = _Fields(data)
    kind = fields.type
    decoder = _DECODERS.get(kind)
    if decoder is None:
        raise WireError(f"unknown event type {_shown(kind)} (known: {', '.join(EVENT_TYPES)})")
    event = decoder(fields, run_id)
    fields.no_others()
    return event


def decode_batch(items: object, *, run_id: str = "") -> list[EngineEvent]:
    """Every event of a list, in order; the WireError names the first bad one by its index."""
    if not isinstance(items, list):
        raise WireError(f"events must be a list, not {_kind(items)}")
    events = []
    for index, item in enumerate(items):
        try:
            events.append(decode(item, run_id=run_id))
        except WireError as exc:
            raise WireError(f"event {index}: {exc}") from None
    return events


class _Fields:
    """Typed reads of one event object's keys, remembering which were read (the rest are unknown)."""

    def __init__(self, data: object) -> None:
        if not isinstance(data, dict):
            raise WireError(f"an event must be a JSON object, not {_kind(data)}")
        if not all(isinstance(key, str) for key in data):
            raise WireError("an event's keys must be strings")
        self.data: dict[str, Any] = data
        self.read: set[str] = {"type"}
        kind = data.get("type")
        if not isinstance(kind, str):
            raise WireError(f"an event needs a string 'type', not {_kind(kind)}")
        self.type = kind

    def get(self, key: str) -> Any:
        if key not in self.data:
            raise WireError(f"{self.type}: {key!r} is missing")
        self.read.add(key)
        return self.data[key]

    def no_others(self) -> None:
        unknown = sorted(set(self.data) - self.read)
        if unknown:
            raise WireError(f"{self.type}: unknown key {_shown(unknown[0])}")

    def where(self, key: str) -> str:
        return f"{self.type}: {key}"

    def step_id(self, key: str = "step_id") -> str:
        return _step_id(self.get(key), self.where(key))

    def whole(self, key: str, low: int, high: int) -> int:
        return _whole(self.get(key), self.where(key), low, high)

    def time(self, key: str) -> float:
        return _time(self.get(key), self.where(key))

    def text(self, key: str, limit: int) -> str:
        return _text(self.get(key), self.where(key), limit)

    def optional_text(self, key: str, limit: int) -> str | None:
        value = self.get(key)
        return None if value is None else _text(value, self.where(key), limit)

    def exit_code(self, key: str = "exit_code") -> int | None:
        value = self.get(key)
        return None if value is None else _whole(value, self.where(key), -MAX_EXIT_CODE, MAX_EXIT_CODE)

    def outputs(self, key: str = "outputs") -> dict[str, str]:
        value = self.get(key)
        where = self.where(key)
        if not isinstance(value, dict):
            raise WireError(f"{where} must be an object of strings, not {_kind(value)}")
        size = 0
        for name, item in value.items():
            if not isinstance(name, str) or not isinstance(item, str):
                raise WireError(f"{where} must map strings to strings; {_shown(name)} holds {_kind(item)}")
            size += len(name) + len(item)
            if size > MAX_OUTPUTS_CHARS:
                raise WireError(f"{where} are larger than {MAX_OUTPUTS_CHARS} characters")
        return dict(value)

    def status(self, key: str, allowed: frozenset[str], enum: Callable[[str], Any]) -> Any:
        value = self.get(key)
        if not isinstance(value, str) or value not in allowed:
            raise WireError(f"{self.where(key)} must be one of {', '.join(sorted(allowed))}, not {_shown(value)}")
        return enum(value)


def _run_started(fields: _Fields, run_id: str) -> EngineEvent:
    return RunStarted(run_id=run_id, at=fields.time("at"))


def _step_started(fields: _Fields, run_id: str) -> EngineEvent:
    return StepStarted(step_id=fields.step_id(), attempt=fields.whole("attempt", 1, MAX_ATTEMPT), at=fields.time("at"))


def _step_logs(fields: _Fields, run_id: str) -> EngineEvent:
    lines = fields.get("lines")
    if not isinstance(lines, list):
        raise WireError(f"step_logs: lines must be a list, not {_kind(lines)}")
    if len(lines) > MAX_LINES:
        raise WireError(f"step_logs: more than {MAX_LINES} lines in one event")
    return StepLogs(tuple(_log_line(line, index) for index, line in enumerate(lines)))


def _log_line(line: object, index: int) -> LogLine:
    where = f"step_logs: line {index}"
    if not isinstance(line, list) or len(line) != 6:
        raise WireError(f"{where} must be [step_id, attempt, seq, stream, at, text], not {_kind(line)}")
    step_id, attempt, seq, stream, at, text = line
    if not isinstance(stream, str) or stream not in _STREAMS:
        raise WireError(f"{where}: stream must be one of {', '.join(sorted(_STREAMS))}, not {_shown(stream)}")
    return LogLine(
        step_id=_step_id(step_id, where),
        attempt=_whole(attempt, f"{where}: attempt", 1, MAX_ATTEMPT),
        seq=_whole(seq, f"{where}: seq", 1, MAX_SEQ),
        stream=Stream(stream),
        at=_time(at, f"{where}: at"),
        text=_text(text, f"{where}: text", MAX_TEXT_CHARS),
    )


def _step_finished(fields: _Fields, run_id: str) -> EngineEvent:
    will_retry = fields.get("will_retry")
    if not isinstance(will_retry, bool):
        raise WireError(f"step_finished: will_retry must be true or false, not {_shown(will_retry)}")
    extra = fields.get("extra")
    if not isinstance(extra, dict):
        raise WireError(f"step_finished: extra must be an object, not {_kind(extra)}")
    _check_json(extra, "step_finished: extra")
    return StepFinished(
        step_id=fields.step_id(),
        attempt=fields.whole("attempt", 1, MAX_ATTEMPT),
        status=fields.status("status", _FINISHED_STEP, StepStatus),
        started_at=fields.time("started_at"),
        finished_at=fields.time("finished_at"),
        exit_code=fields.exit_code(),
        outputs=fields.outputs(),
        error=fields.optional_text("error", MAX_MESSAGE_CHARS),
        will_retry=will_retry,
        extra=extra,
    )


def _step_skipped(fields: _Fields, run_id: str) -> EngineEvent:
    return StepSkipped(
        step_id=fields.step_id(),
        reason=fields.text("reason", MAX_MESSAGE_CHARS),
        at=fields.time("at"),
        status=fields.status("status", _NEVER_STARTED, StepStatus),
    )


def _step_reused(fields: _Fields, run_id: str) -> EngineEvent:
    return StepReused(
        step_id=fields.step_id(), outputs=fields.outputs(), exit_code=fields.exit_code(), at=fields.time("at")
    )


def _run_finished(fields: _Fields, run_id: str) -> EngineEvent:
    return RunFinished(
        status=fields.status("status", _FINISHED_RUN, RunStatus),
        at=fields.time("at"),
        error=fields.optional_text("error", MAX_MESSAGE_CHARS),
    )


_DECODERS: Final[dict[str, Callable[[_Fields, str], EngineEvent]]] = {
    "run_started": _run_started,
    "step_started": _step_started,
    "step_logs": _step_logs,
    "step_finished": _step_finished,
    "step_skipped": _step_skipped,
    "step_reused": _step_reused,
    "run_finished": _run_finished,
}
_STREAMS: Final = frozenset(str(stream) for stream in Stream)
_FINISHED_STEP: Final = frozenset(str(status) for status in FINISHED_STEP_STATUSES)
_NEVER_STARTED: Final = frozenset(str(status) for status in NEVER_STARTED_STATUSES)
_FINISHED_RUN: Final = frozenset(str(status) for status in FINISHED_RUN_STATUSES)


# --- values ----------------------------------------------------------------------------------------


def _step_id(value: object, where: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_STEP_ID_CHARS or not STEP_ID_RE.match(value):
        raise WireError(f"{where} must be a step id ([a-z0-9][a-z0-9_-]*), not {_shown(value)}")
    return value


def _whole(value: object, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise WireError(f"{where} must be a whole number from {low} to {high}, not {_shown(value)}")
    return value


def _time(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise WireError(f"{where} must be a time in seconds (a finite number, 0 or more), not {_shown(value)}")
    return float(value)


def _text(value: object, where: str, limit: int) -> str:
    if not isinstance(value, str):
        raise WireError(f"{where} must be a string, not {_kind(value)}")
    if len(value) > limit:
        raise WireError(f"{where} is longer than {limit} characters")
    return value


def _check_json(value: object, where: str) -> None:
    """Plain JSON data (no NaN), not deeper than MAX_EXTRA_DEPTH, its strings within MAX_EXTRA_CHARS."""
    size = 0
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_EXTRA_DEPTH:
            raise WireError(f"{where} is nested deeper than {MAX_EXTRA_DEPTH} levels")
        if isinstance(item, str):
            size += len(item)
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise WireError(f"{where} holds a number that is not finite")
        elif isinstance(item, dict):
            for key, inner in item.items():
                if not isinstance(key, str):
                    raise WireError(f"{where} has a key that is not a string")
                size += len(key)
                stack.append((inner, depth + 1))
        elif isinstance(item, list):
            stack.extend((inner, depth + 1) for inner in item)
        elif not (item is None or isinstance(item, bool | int)):
            raise WireError(f"{where} holds {_kind(item)}, which is not JSON data")
        if size > MAX_EXTRA_CHARS:
            raise WireError(f"{where} is larger than {MAX_EXTRA_CHARS} characters")


def _kind(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), f"a {type(value).__name__}")


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


__all__ = [
    "EVENT_TYPES",
    "MAX_TEXT_CHARS",
    "WireError",
    "decode",
    "decode_batch",
    "encode",
]
