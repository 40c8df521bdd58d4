"""Showing a run while it happens: a live view of the DAG on a terminal, plain lines elsewhere.

The engine's events reach the display only after they are stored (see
`plue.cli.local_run`), through a `DisplayPump`: one thread that takes the events
in order, makes sure the log lines among them are in the store (`flush`), and then
shows them. So nothing is ever on the screen that the store could lose, and a slow
terminal never holds up the engine's threads for longer than the pump's queue allows.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.text import Text

from plue.cli.output import clean, one_line
from plue.engine import (
    EngineEvent,
    RunFinished,
    RunStarted,
    StepFinished,
    StepLogs,
    StepReused,
    StepSkipped,
    StepStarted,
    Stream,
)

TAIL_LINES = 4  # log lines shown under a running (or failed) step in the live view
REFRESH_SECONDS = 0.25  # how often durations tick on the live view
QUEUE_SIZE = 10_000  # batches; past this the engine waits for the display
MIN_REDRAW_SECONDS = 0.05  # a flood of log batches redraws the live view at most this often
MAX_LINE_CHARS = 100_000

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
SPINNER_FPS = 10

REUSED = "reused"
PENDING = "pending"
RUNNING = "running"
RETRYING = "retrying"  # an attempt failed; the next one waits for its backoff

# status -> (symbol, style)
SYMBOLS: dict[str, tuple[str, str]] = {
    PENDING: ("·", "dim"),
    RUNNING: ("*", "yellow"),
    RETRYING: ("↻", "yellow"),
    "success": ("✓", "green"),
    REUSED: ("↺", "green"),
    "failed": ("✗", "bold red"),
    "timed_out": ("✗", "bold red"),
    "cancelled": ("⊘", "yellow"),
    "skipped": ("-", "dim"),
}


@dataclass(frozen=True)
class Note:
    """A message of plue itself for the display (e.g. "cancelling the run")."""

    text: str


DisplayEvent = EngineEvent | Note


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def worth_saying(error: str | None, status: str, exit_code: int | None) -> str | None:
    """`error`, unless it only repeats the status or the exit code shown next to it."""
    if error is None or error in (status, f"exit code {exit_code}"):
        return None
    return error


# How streams are marked after the step id: stdout and an agent's text are the step's own words.
STREAM_LABELS = {
    Stream.STDOUT: "",
    Stream.LLM_TOKEN: "",
    Stream.LLM_TOOL_CALL: ":tool",
    Stream.LLM_TOOL_RESULT: ":result",
}


# In the live view's last lines of a step: an agent's tool calls and their results stand out.
TAIL_MARKERS = {Stream.LLM_TOOL_CALL: "→ ", Stream.LLM_TOOL_RESULT: "← "}


def log_prefix(step_id: str, attempt: int, stream: str) -> str:
    """``[step]`` for stdout and agent text; the attempt (``#2``) and other streams are marked."""
    where = step_id if attempt <= 1 else f"{step_id}#{attempt}"
    label = STREAM_LABELS.get(stream, f":{stream}")  # type: ignore[call-overload]
    return f"[{where}{label}]"


# --- what the display knows of the run ----------------------------------------------


@dataclass
class StepView:
    id: str
    status: str = PENDING
    attempt: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    exit_code: int | None = None
    note: str | None = None  # error or skip reason
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL_LINES))

    def duration(self, now: float) -> float | None:
        if self.started_at is None:
            return None
        return (self.finished_at or now) - self.started_at


class RunModel:
    """The steps of a run, in topological order, as the events say they are."""

    def __init__(self, step_ids: Sequence[str]) -> None:
        self.steps = {step_id: StepView(step_id) for step_id in step_ids}
        self.started_at: float | None = None
        self.finished: RunFinished | None = None
        self.notes: list[str] = []

    def apply(self, event: DisplayEvent) -> None:
        match event:
            case RunStarted(at=at):
                self.started_at = at
            case StepStarted(step_id=step_id, attempt=attempt, at=at):
                step = self._step(step_id)
                step.status, step.attempt, step.started_at, step.finished_at = RUNNING, attempt, at, None
                step.note, step.exit_code = None, None
                step.tail.clear()
            case StepLogs(lines=lines):
                for line in lines:
                    marker = TAIL_MARKERS.get(line.stream, "")
                    self._step(line.step_id).tail.append(marker + one_line(line.text, 200))
            case StepFinished() as finished:
                step = self._step(finished.step_id)
                step.attempt, step.exit_code = finished.attempt, finished.exit_code
                step.started_at, step.finished_at = finished.started_at, finished.finished_at
                step.status = RETRYING if finished.will_retry else str(finished.status)
                step.note = worth_saying(finished.error, str(finished.status), finished.exit_code)
            case StepSkipped(step_id=step_id, reason=reason, status=status):
                step = self._step(step_id)
                step.status, step.note = str(status), reason  # skipped, or cancelled before it ran
            case StepReused(step_id=step_id, exit_code=exit_code):
                step = self._step(step_id)
                step.status, step.exit_code = REUSED, exit_code
            case RunFinished():
                self.finished = event
            case Note(text=text):
                self.notes.append(text)

    def _step(self, step_id: str) -> StepView:
        # A step the plan did not list cannot happen; show it rather than lose it.
        return self.steps.setdefault(step_id, StepView(step_id))


# --- displays ---------------------------------------------------------------------


class Display(Protocol):
    model: RunModel

    def start(self) -> None: ...
    def show(self, events: Sequence[DisplayEvent]) -> None: ...
    def tick(self) -> None: ...
    def stop(self) -> None: ...


class PlainDisplay:
    """Plain lines for pipes, CI logs and dumb terminals: ``[step] line`` and ``==> transitions``."""

    def __init__(self, model: RunModel, write: Callable[[str], None], mask: Callable[[str], str]) -> None:
        self.model = model
        self._write = write
        self._mask = mask

    def start(self) -> None:
        pass

    def tick(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def show(self, events: Sequence[DisplayEvent]) -> None:
        lines: list[str] = []
        for event in events:
            self.model.apply(event)
            lines += [clean(self._mask(line), limit=MAX_LINE_CHARS) for line in self._lines(event)]
        if lines:
            self._write("\n".join(lines))  # one write (and flush) per batch, not per line

    def _lines(self, event: DisplayEvent) -> list[str]:
        match event:
            case StepLogs(lines=lines):
                return [f"{log_prefix(line.step_id, line.attempt, line.stream)} {line.text}" for line in lines]
            case StepStarted(step_id=step_id, attempt=attempt):
                return [f"==> {step_id} started" + (f" (attempt {attempt})" if attempt > 1 else "")]
            case StepFinished() as finished:
                return [transition_line(finished)]
            case StepSkipped(step_id=step_id, reason=reason, status=status):
                return [f"==> {step_id} {status} ({reason})"]
            case StepReused(step_id=step_id):
                return [f"==> {step_id} reused (succeeded in the earlier run)"]
            case Note(text=text):
                return [f"==> {text}"]
        return []


def transition_line(finished: StepFinished) -> str:
    took = format_duration(finished.finished_at - finished.started_at)
    details = [str(finished.status), took]
    if finished.exit_code not in (None, 0):
        details.append(f"exit code {finished.exit_code}")
    if finished.attempt > 1:
        details.append(f"attempt {finished.attempt}")
    line = f"==> {finished.step_id} finished ({', '.join(details)})"
    error = worth_saying(finished.error, str(finished.status), finished.exit_code)
    if error:
        line += f": {one_line(error, 300)}"
    if finished.will_retry:
        line += "; retrying"
    return line


class LiveDisplay:
    """A rich `Live` view of the steps: status, attempt, duration, and the tail of running logs."""

    def __init__(self, model: RunModel, console: Console, mask: Callable[[str], str], title: str) -> None:
        self.model = model
        self._console = console
        self._mask = mask
        self._title = title
        self._live = Live(console=console, auto_refresh=False, transient=False, redirect_stdout=False)
        self._drawn = 0.0  # time.monotonic() of the last redraw

    def start(self) -> None:
        self._live.start()
        self.tick()

    def show(self, events: Sequence[DisplayEvent]) -> None:
        for event in events:
            self.model.apply(event)
        if time.monotonic() - self._drawn >= MIN_REDRAW_SECONDS:
            self.tick()

    def tick(self) -> None:
        self._live.update(self.render(time.time()), refresh=True)
        self._drawn = time.monotonic()

    def stop(self) -> None:
        self._live.update(self.render(time.time()))  # drawn once more by stop()
        self._live.stop()

    def render(self, now: float) -> RenderableType:
        steps = list(self.model.steps.values())
        width = max((len(clean(step.id)) for step in steps), default=0)
        lines: list[RenderableType] = [Text(clean(self._title), style="bold")]
        for step in steps:
            symbol, style = SYMBOLS.get(step.status, ("?", ""))
            if step.status == RUNNING:
                symbol = SPINNER[int(now * SPINNER_FPS) % len(SPINNER)]
            line = Text()
            line.append(symbol, style=style)
            line.append(" " + clean(step.id).ljust(width), style="bold")
            line.append(" " + format_duration(step.duration(now)).rjust(7) + " ")
            line.append_text(_info(step))
            lines.append(line)
            if step.status in (RUNNING, RETRYING, "failed", "timed_out"):
                # A step's last lines, one terminal line each however long they are.
                for text in step.tail:
                    lines.append(Text("  │ " + clean(self._mask(text)), style="dim", no_wrap=True, overflow="ellipsis"))
        lines += [Text(clean(note), style="yellow") for note in self.model.notes]
        return Group(*lines)


def _info(step: StepView) -> Text:
    details: list[str] = []
    if step.status not in (RUNNING, PENDING):
        details.append(step.status)
    if step.attempt > 1:
        details.append(f"attempt {step.attempt}")
    if step.exit_code not in (None, 0):
        details.append(f"exit code {step.exit_code}")
    text = Text(", ".join(details), style=SYMBOLS.get(step.status, ("", ""))[1])
    if step.note:
        text.append(("  " if details else "") + clean(one_line(step.note, 200)), style="dim")
    return text


# --- the pump ---------------------------------------------------------------------------


class DisplayPump:
    """Feeds stored events to a display from one thread, flushing logs to the store first."""

    def __init__(self, display: Display, flush: Callable[[], None], refresh: float | None = REFRESH_SECONDS) -> None:
        self.display = display
        self._flush = flush
        self._refresh = refresh
        self._queue: queue.Queue[DisplayEvent | None] = queue.Queue(QUEUE_SIZE)
        self._thread = threading.Thread(target=self._loop, name="plue-display", daemon=True)
        self.error: BaseException | None = None

    def start(self) -> None:
        self.display.start()
        self._thread.start()

    def put(self, event: DisplayEvent) -> None:
        if self._thread.is_alive():  # a display that died must not block the run
            self._queue.put(event)

    def stop(self) -> None:
        """Show everything queued so far, then stop the display."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        try:
            self.display.stop()
        except Exception as exc:  # e.g. the terminal went away; the run is stored all the same
            self.error = self.error or exc

    def _loop(self) -> None:
        try:
            while True:
                try:
                    first = self._queue.get(timeout=self._refresh)
                except queue.Empty:
                    self.display.tick()
                    continue
                batch = [first]
                while len(batch) < QUEUE_SIZE:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                done = None in batch
                events = [event for event in batch if event is not None]
                if any(isinstance(event, StepLogs) for event in events):
                    self._flush()  # only what is stored is shown
                self.display.show(events)
                if done:
                    return
        except BaseException as exc:  # shown by the caller; the run itself goes on
            self.error = exc
            self._drain()

    def _drain(self) -> None:
        # Unblock any producer waiting on a full queue.
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return
