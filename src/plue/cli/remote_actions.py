"""The run commands against a Plue server (`--server`/$PLUE_SERVER): the same output as against the
local store (`plue.cli.run_render`, `plue.cli.live`), from the API's JSON turned back into records.

Following a run (`logs --follow`, `rerun`, `workflow run --server`) reads its event stream; the
exit code is then the run's, as locally: 0 if it succeeded, 1 if not.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Sequence
from typing import Any, Final

import click

from plue.cli.live import RunModel
from plue.cli.output import Output, clean
from plue.cli.remote import USAGE_STATUSES, Event, Remote
from plue.cli.remote_records import log_record, run_record, usage_records
from plue.cli.run_actions import UNFINISHED, new_display, print_summary
from plue.cli.run_render import log_text, ordered_step_ids, run_json, run_list_json, run_view, runs_table
from plue.engine import (
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
from plue.engine.masking import Masker
from plue.store import RunRecord

MAX_PAGE: Final = 200  # the server's largest page of runs
LOG_PAGE: Final = 10_000
MAX_LINE_CHARS: Final = 100_000
NOT_WITH_SERVER: Final = "cannot be used with a server (the run executes there); drop it or use the local store"


def refuse_local_options(**given: object) -> None:
    """Options that only mean something for a run executed here are usage errors against a server."""
    for option, value in given.items():
        if value not in (None, False, (), []):
            raise click.UsageError(f"--{option.replace('_', '-')} {NOT_WITH_SERVER}")


def list_runs(remote: Remote, workflow: str | None, status: str | None, limit: int, as_json: bool) -> None:
    out = Output()
    runs: list[RunRecord] = []
    before: int | None = None
    while len(runs) < limit:
        params = {"workflow": workflow, "status": status, "limit": min(MAX_PAGE, limit - len(runs)), "before": before}
        page = remote.get("/api/runs", params)
        runs += [run_record(item) for item in page["runs"]]
        before = page.get("next")
        if before is None:
            break
    if as_json:
        click.echo(json.dumps(run_list_json(runs), indent=2))
        return
    if not runs:
        out.line("no runs match" if workflow or status else "no runs yet: start one with plue workflow run FILE")
        return
    out.show(runs_table(out, runs))


def get_run(remote: Remote, run_id: int) -> tuple[RunRecord, dict[str, Any]]:
    data = remote.get(f"/api/runs/{run_id}")
    return run_record(data), data


def view_run(remote: Remote, run_id: int, as_json: bool) -> None:
    out = Output()
    run, data = get_run(remote, run_id)
    usage = usage_records(data)
    if as_json:
        click.echo(json.dumps(run_json(run, usage), indent=2))
        return
    out.show(run_view(run, usage))
    out.line()
    out.line(f"logs: plue run logs {run.id}" + (" --follow" if run.status in UNFINISHED else ""))


def run_logs(remote: Remote, run_id: int, step_id: str | None, attempt: int | None, follow: bool) -> None:
    run, _ = get_run(remote, run_id)
    if step_id is not None and step_id not in ordered_step_ids(run):
        raise click.BadParameter(f"run {run_id} has no step {step_id!r}", param_hint="'--step'")

    def wanted(line: dict[str, Any]) -> bool:
        return (step_id is None or line.get("step_id") == step_id) and (attempt is None or line["attempt"] == attempt)

    if not follow:
        after = 0
        while True:
            page = remote.get(f"/api/runs/{run_id}/logs", {"after": after, "limit": LOG_PAGE, "step": step_id})
            for line in page["lines"]:
                if wanted(line):
                    click.echo(clean(log_text(log_record(run_id, line)), limit=MAX_LINE_CHARS))
            after = page["next"]
            if len(page["lines"]) < LOG_PAGE:
                return
    status = "failed"
    for event in remote.events(run_id):
        if event.name == "log" and wanted(event.data):
            click.echo(clean(log_text(log_record(run_id, event.data)), limit=MAX_LINE_CHARS))
        elif event.name == "end":
            status = str(event.data.get("status"))
    raise click.exceptions.Exit(0 if status == "success" else 1)


def cancel_run(remote: Remote, run_id: int) -> None:
    out = Output()
    run, _ = get_run(remote, run_id)
    remote.post(f"/api/runs/{run_id}/cancel")  # 409 when it has finished: exit 1, as locally
    out.line(f"requested cancellation of run {run_id} ({run.workflow_name}); follow it: plue run logs {run_id} -f")


def rerun(remote: Remote, run_id: int, failed: bool, follow: bool) -> None:
    out = Output()
    # 409: the run has not finished; locally that is a usage error.
    queued = remote.post(
        f"/api/runs/{run_id}/rerun",
        params={"failed": "true" if failed else None},
        usage_statuses=USAGE_STATUSES | {409},
    )
    new_id = int(queued["id"])
    out.line(f"queued run {new_id}, a rerun of {run_id}" + (" (failed steps)" if failed else ""))
    if follow:
        raise click.exceptions.Exit(follow_run(out, remote, new_id, f"rerun of {run_id}"))
    out.line(f"follow it: plue run logs {new_id} -f")


def dispatch(
    remote: Remote, repository: str, workflow: str, ref: str | None, inputs: dict[str, str], follow: bool
) -> None:
    out = Output()
    owner, sep, name = repository.partition("/")
    if not sep or not owner or not name or "/" in name:
        raise click.BadParameter(f"{repository!r} is not owner/name", param_hint="'--repository'")
    path = "/".join(urllib.parse.quote(part, safe="") for part in (owner, name))
    queued = remote.post(
        f"/api/repos/{path}/workflows/{urllib.parse.quote(workflow, safe='/')}/dispatches",
        body={"ref": ref, "inputs": inputs},
    )
    run_id = int(queued["id"])
    out.line(f"queued run {run_id} of {workflow} in {repository}")
    if follow:
        raise click.exceptions.Exit(follow_run(out, remote, run_id, repository))
    out.line(f"follow it: plue run logs {run_id} -f")


# --- following a run ----------------------------------------------------------------------


def follow_run(out: Output, remote: Remote, run_id: int, where: str) -> int:
    """Show the run's events as a local run shows its own, until it ends; the exit code (0: success)."""
    run, _ = get_run(remote, run_id)
    model = RunModel(ordered_step_ids(run))
    mask = Masker(())  # the server masked its secrets before storing anything
    from plue.cli.live import DisplayPump  # the pump gives the live view its ticks

    pump = DisplayPump(new_display(out, model, mask, f"{run.workflow_name} · run {run_id} · {where}"), lambda: None)
    translate = EventTranslator()
    pump.start()
    try:
        for event in remote.events(run_id):
            for display_event in translate(event):
                pump.put(display_event)
        final, _ = get_run(remote, run_id)
        if final.started_at is not None and model.started_at is None:
            pump.put(RunStarted(str(run_id), final.started_at))
        pump.put(RunFinished(_run_status(final.status), final.finished_at or 0.0, final.error))
    finally:
        pump.stop()
    print_summary(out, run_id, model, final.status, mask)
    return 0 if final.status == "success" else 1


class EventTranslator:
    """A run's SSE events (`plue.server.sse`) as the engine events the displays take."""

    def __init__(self) -> None:
        self.started: dict[tuple[str, int], float] = {}
        self.run_started = False

    def __call__(self, event: Event) -> Sequence[Any]:
        data = event.data
        if event.name == "log":
            try:
                stream = Stream(str(data["stream"]))
            except ValueError:
                stream = Stream.STDOUT
            line = LogLine(
                str(data["step_id"]), int(data["attempt"]), int(data["seq"]), stream, data["at"], data["text"]
            )
            return [StepLogs((line,))]
        if event.name != "step":
            return []
        step_id, attempt, status, at = str(data["step"]), int(data["attempt"]), str(data["status"]), float(data["at"])
        if status == "running":
            self.started[(step_id, attempt)] = at
            first = [] if self.run_started else [RunStarted("", at)]
            self.run_started = True
            return [*first, StepStarted(step_id, attempt, at)]
        if data.get("reused"):
            return [StepReused(step_id, dict(data.get("outputs") or {}), data.get("exit_code"), at)]
        started = self.started.get((step_id, attempt))
        if started is None and status in ("skipped", "cancelled"):
            return [
                StepSkipped(step_id, str(data.get("reason") or data.get("error") or status), at, StepStatus(status))
            ]
        return [
            StepFinished(
                step_id,
                attempt,
                _step_status(status),
                started if started is not None else at,
                at,
                exit_code=data.get("exit_code"),
                outputs=dict(data.get("outputs") or {}),
                error=data.get("error"),
            )
        ]


def _step_status(status: str) -> StepStatus:
    try:
        return StepStatus(status)
    except ValueError:
        return StepStatus.FAILED


def _run_status(status: str) -> RunStatus:
    try:
        return RunStatus(status)
    except ValueError:
        return RunStatus.FAILED
