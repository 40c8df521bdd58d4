"""How stored runs look in the terminal: the run list, one run's steps, log lines."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from plue.cli.live import SYMBOLS, format_duration, log_prefix, worth_saying
from plue.cli.output import Output, clean, new_table, one_line, plain, plural
from plue.store import LlmUsageRecord, LogRecord, RunRecord, StepRecord

RUN_STYLES = {
    "success": "green",
    "failed": "bold red",
    "cancelled": "yellow",
    "interrupted": "bold red",
    "running": "yellow",
    "queued": "dim",
}


def run_duration(run: RunRecord, now: float | None = None) -> float | None:
    if run.started_at is None:
        return None
    end = run.finished_at if run.finished_at is not None else now
    return None if end is None else end - run.started_at


def when(at: float | None, *, relative: bool, now: float | None = None) -> str:
    """On a terminal "3m ago"; for scripts an ISO 8601 UTC time."""
    if at is None:
        return "-"
    if not relative:
        return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    ago = max(0.0, (now if now is not None else time.time()) - at)
    if ago < 60:
        return "just now" if ago < 5 else f"{int(ago)}s ago"
    if ago < 3600:
        return f"{int(ago // 60)}m ago"
    if ago < 86400:
        return f"{int(ago // 3600)}h ago"
    return datetime.fromtimestamp(at).strftime("%Y-%m-%d %H:%M")


def runs_table(out: Output, runs: Sequence[RunRecord]) -> Table:
    table = new_table(out, "id", "workflow", "status", "event", "started", "duration")
    now = time.time()
    for run in runs:
        table.add_row(
            str(run.id),
            plain(run.workflow_name),
            plain(run.status, RUN_STYLES.get(run.status, "")),
            plain(run.event_name or "-"),
            when(run.started_at or run.created_at, relative=out.is_terminal, now=now),
            format_duration(run_duration(run, now if run.status == "running" else None)) or "-",
        )
    return table


def run_list_json(runs: Sequence[RunRecord]) -> list[dict[str, Any]]:
    return [
        {
            "id": run.id,
            "workflow": {"id": run.workflow_id, "path": run.workflow_path, "name": run.workflow_name},
            "status": run.status,
            "event": run.event_name,
            "created_at": run.created_at,
            "started_at": run.started_at,
            "finished_at": run.finished_at,
            "duration": run_duration(run),
            "parent_run_id": run.parent_run_id,
        }
        for run in runs
    ]


def run_json(run: RunRecord, usage: Sequence[LlmUsageRecord] = ()) -> dict[str, Any]:
    """`RunRecord.to_json` with steps in topological order, every attempt listed, and LLM calls."""
    data = run.to_json()
    by_id = {step["id"]: step for step in data["steps"]}
    data["steps"] = [by_id[step_id] for step_id in ordered_step_ids(run) if step_id in by_id]
    for step in data["steps"]:
        step["attempts"] = [attempt.to_json() for attempt in run.attempts if attempt.id == step["id"]]
    data["duration"] = run_duration(run)
    data["llm_usage"] = [call.to_json() for call in usage]
    return data


def ordered_step_ids(run: RunRecord) -> list[str]:
    """The plan's step ids in topological order (plan order among equals)."""
    from plue.validation.graph import topological_order

    return [str(step["id"]) for step in topological_order(run.plan.get("steps", []))]


def run_view(run: RunRecord, usage: Sequence[LlmUsageRecord] = ()) -> RenderableType:
    title = plain(f"{run.workflow_name} · run {run.id}", "bold")
    title.append("  ")
    title.append(plain(run.status, RUN_STYLES.get(run.status, "")))
    details = [run.workflow_path, f"event {run.event_name or '-'}"]
    took = format_duration(run_duration(run))
    if took:
        details.append(took)
    if run.parent_run_id is not None:
        details.append(f"rerun of {run.parent_run_id}")
    title.append(clean("  " + " · ".join(details)), style="dim")
    parts: list[RenderableType] = [title]
    if run.error:
        parts.append(plain(one_line(run.error, 300), "red"))
    if usage:
        parts.append(plain(f"LLM: {usage_summary(usage)}", "dim"))
    latest = {step.id: step for step in run.steps}
    grid = Table.grid(padding=(0, 1))
    for _ in range(4):
        grid.add_column()
    for step_id in ordered_step_ids(run):
        step = latest.get(step_id)
        _add_step(grid, step_id, step, [a for a in run.attempts if a.id == step_id])
        calls = [call for call in usage if step and call.step_id == step_id and call.attempt == step.attempt]
        if calls:
            grid.add_row("", "", "", plain(f"llm: {usage_summary(calls)}", "magenta"))
    parts.append(grid)
    return Group(*parts)


def _add_step(grid: Table, step_id: str, step: StepRecord | None, attempts: Sequence[StepRecord]) -> None:
    status = "pending" if step is None else "reused" if step.reused else step.status
    symbol, style = SYMBOLS.get(status, ("?", ""))
    info = Text(status, style=style)
    if step is not None:
        if step.attempt > 1:
            info.append(f", attempt {step.attempt}")
        if step.exit_code not in (None, 0):
            info.append(f", exit code {step.exit_code}")
    took = "" if step is None else format_duration(_step_duration(step))
    grid.add_row(Text(symbol, style=style), plain(step_id, "bold"), took, info)
    if step is None:
        return
    for earlier in attempts[:-1]:
        line = f"attempt {earlier.attempt}: {earlier.status}"
        if earlier.exit_code is not None:
            line += f", exit code {earlier.exit_code}"
        error = worth_saying(earlier.error, earlier.status, earlier.exit_code)
        if error:
            line += f": {one_line(error, 200)}"
        grid.add_row("", "", "", plain(line, "dim"))
    for note in (worth_saying(step.error, step.status, step.exit_code), step.reason):
        if note:
            grid.add_row("", "", "", plain(one_line(note, 300), "dim"))
    for key, value in step.outputs.items():
        grid.add_row("", "", "", plain(f"{key}={one_line(value, 200)}", "cyan"))


def usage_summary(calls: Sequence[LlmUsageRecord]) -> str:
    """``claude-… · 3 calls · 1,234 in / 56 out tokens (cache 1,000 read, 0 written) · 4.2s · ~$0.0123``."""
    models = ", ".join(dict.fromkeys(call.model for call in calls))
    tokens_in = sum(call.input_tokens for call in calls)
    tokens_out = sum(call.output_tokens for call in calls)
    cache_read = sum(call.cache_read_tokens for call in calls)
    cache_written = sum(call.cache_write_tokens for call in calls)
    parts = [models, plural(len(calls), "call"), f"{tokens_in:,} in / {tokens_out:,} out tokens"]
    if cache_read or cache_written:
        parts[-1] += f" (cache {cache_read:,} read, {cache_written:,} written)"
    latency = sum(call.latency_ms or 0.0 for call in calls)
    if latency:
        parts.append(format_duration(latency / 1000))
    cost = sum(call.cost_usd for call in calls)
    if cost:
        parts.append(f"~${cost:.4f}")
    return " · ".join(parts)


def _step_duration(step: StepRecord) -> float | None:
    if step.started_at is None or step.finished_at is None:
        return None
    return step.finished_at - step.started_at


def log_text(record: LogRecord) -> str:
    """``[step] text``; other streams than stdout are marked, e.g. ``[step:stderr] text``."""
    return f"{log_prefix(record.step_id, record.attempt, record.stream)} {record.text}"
