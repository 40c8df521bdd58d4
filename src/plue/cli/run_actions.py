"""The work of the run commands (declared in `plue.cli.run_commands`)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from plue.cli.live import Display, LiveDisplay, PlainDisplay, RunModel, format_duration
from plue.cli.local_run import LocalRun, Reused
from plue.cli.output import Output, clean, plural
from plue.cli.planning import evaluate_for
from plue.cli.run_render import log_text, ordered_step_ids, run_json, run_list_json, run_view, runs_table
from plue.cli.secrets import resolve_secrets
from plue.engine.masking import Masker
from plue.plan import content_hash
from plue.registry import Registry
from plue.registry.discovery import is_workflow_name
from plue.runners.local import reusable_steps
from plue.steps import LlmOptions
from plue.store import RunRecord, Store, StoreError
from plue.validation import PlanInvalid
from plue.validation.graph import topological_order

UNFINISHED = ("queued", "running")
FOLLOW_POLL_SECONDS = 0.3
LOG_PAGE = 10_000
MAX_LINE_CHARS = 100_000


class NotFound(click.ClickException):
    """A run or workflow the command line names does not exist: a usage problem."""

    exit_code = 2


# --- the commands -------------------------------------------------------------------


def run_workflow(
    target: str,
    repo: Path | None,
    event_name: str | None,
    event_path: str | None,
    input_pairs: Sequence[str],
    secret_names: Sequence[str],
    max_parallel: int | None,
    llm: LlmOptions | None = None,
) -> None:
    out = Output()
    if event_name is None and event_path is not None:
        raise click.UsageError("--event needs --event-name (the X-GitHub-Event header of the payload)")
    root, rel = locate_workflow(target, repo)
    secrets = resolve_secrets(secret_names, root)
    with Registry(root) as registry:
        # A run started by hand is a manual event, as `gh workflow run` is a workflow_dispatch.
        evaluated = evaluate_for(
            out, registry, rel, event_name=event_name or "manual", event_path=event_path, input_pairs=input_pairs
        )
    plan = evaluated.plan
    with open_store(root) as store:
        workflow_id = store.upsert_workflow(rel, str(plan["name"]), content_hash(plan), plan)
        run_id = store.create_run(
            workflow_id=workflow_id,
            plan=plan,
            event_name=evaluated.event.name if evaluated.event is not None else None,
            event=evaluated.ctx["event"],
            inputs=evaluated.ctx["inputs"],
        )
        title = f"{plan['name']} · run {run_id} · {rel}"
        code = execute(out, store, run_id, plan, title, root, secrets, max_parallel, llm=llm)
    raise click.exceptions.Exit(code)


def list_runs(repo: Path | None, workflow: str | None, status: str | None, limit: int, as_json: bool) -> None:
    out = Output()
    with open_store(repo_root(repo)) as store:
        runs = store.list_runs(workflow=workflow, status=status, limit=limit)
    if as_json:
        click.echo(json.dumps(run_list_json(runs), indent=2))
        return
    if not runs:
        out.line("no runs match" if workflow or status else "no runs yet: start one with plue workflow run FILE")
        return
    out.show(runs_table(out, runs))


def view_run(run_id: int, repo: Path | None, as_json: bool) -> None:
    out = Output()
    with open_store(repo_root(repo)) as store:
        run = get_run(store, run_id)
        usage = store.llm_usage(run_id)
    if as_json:
        click.echo(json.dumps(run_json(run, usage), indent=2))
        return
    out.show(run_view(run, usage))
    out.line()
    out.line(f"logs: plue run logs {run.id}" + (" --follow" if run.status in UNFINISHED else ""))


def run_logs(run_id: int, repo: Path | None, step_id: str | None, attempt: int | None, follow: bool) -> None:
    with open_store(repo_root(repo)) as store:
        run = get_run(store, run_id)
        if step_id is not None and step_id not in ordered_step_ids(run):
            raise click.BadParameter(f"run {run_id} has no step {step_id!r}", param_hint="'--step'")
        cursor = 0
        while True:
            # The state is read before the lines: a run stores all its lines before it ends,
            # so once it is seen finished, one more read gets everything.
            finished = run.status not in UNFINISHED
            cursor = print_logs(store, run_id, step_id, attempt, cursor)
            if not follow or finished:
                break
            time.sleep(FOLLOW_POLL_SECONDS)
            run = get_run(store, run_id, recover=True)
    if follow:
        raise click.exceptions.Exit(0 if run.status == "success" else 1)


def rerun(
    run_id: int,
    repo: Path | None,
    failed: bool,
    secret_names: Sequence[str],
    max_parallel: int | None,
    llm: LlmOptions | None = None,
) -> None:
    out = Output()
    root = repo_root(repo)
    secrets = resolve_secrets(secret_names, root)
    with open_store(root) as store:
        old = get_run(store, run_id)
        if old.status in UNFINISHED:
            raise click.UsageError(f"run {run_id} is still {old.status}; cancel it first: plue run cancel {run_id}")
        reuse = reusable_steps(old) if failed else {}
        new_id = store.create_run(
            workflow_id=old.workflow_id,
            plan=old.plan,
            event_name=old.event_name,
            event=old.event,
            inputs=old.inputs,
            parent_run_id=old.id,
        )
        title = f"{old.workflow_name} · run {new_id} · rerun of {old.id}" + (" (failed steps)" if failed else "")
        code = execute(out, store, new_id, old.plan, title, root, secrets, max_parallel, reuse, llm=llm)
    raise click.exceptions.Exit(code)


def cancel_run(run_id: int, repo: Path | None) -> None:
    out = Output()
    with open_store(repo_root(repo)) as store:
        run = get_run(store, run_id)
        if not store.request_cancel(run_id):
            status = (store.get_run(run_id) or run).status
            out.error(f"plue: error: run {run_id} is not running: it has already finished ({status})")
            raise click.exceptions.Exit(1)
    out.line(f"requested cancellation of run {run_id} ({run.workflow_name}); follow it: plue run logs {run_id} -f")


# --- running ---------------------------------------------------------------------------


def llm_options(record_dir: Path | None, replay_dir: Path | None) -> LlmOptions | None:
    """How llm steps run for `--llm-record` / `--llm-replay` (None: live calls, nothing recorded)."""
    if record_dir is not None and replay_dir is not None:
        raise click.UsageError("--llm-record and --llm-replay exclude each other; choose one")
    if record_dir is None and replay_dir is None:
        return None
    if record_dir is not None:
        try:
            record_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise click.BadParameter(
                f"cannot create {record_dir}: {exc.strerror}", param_hint="'--llm-record'"
            ) from None
    return LlmOptions(record_dir=record_dir, replay_dir=replay_dir)


def execute(
    out: Output,
    store: Store,
    run_id: int,
    plan: Mapping[str, Any],
    title: str,
    workspace: Path,
    secrets: Mapping[str, str],
    max_parallel: int | None,
    reuse: Mapping[str, Reused] | None = None,
    *,
    llm: LlmOptions | None = None,
) -> int:
    """Run `plan` as run `run_id` here, showing it; the command's exit code."""
    mask = Masker(secrets.values())
    model = RunModel([str(step["id"]) for step in topological_order(plan["steps"])])
    display = new_display(out, model, mask, title)
    try:
        local = LocalRun(
            store,
            run_id,
            plan,
            display,
            workspace=workspace,
            secrets=secrets,
            max_parallel=max_parallel,
            reuse=reuse,
            llm=llm,
        )
    except (ValueError, PlanInvalid) as exc:
        # Nothing ran: end the stored run rather than leave it queued forever.
        store.finish_run(run_id, "failed", f"cannot run: {exc}", time.time())
        raise click.ClickException(f"run {run_id}: cannot run: {exc}") from None
    outcome = local.execute()
    if local.pump.error is not None:
        error = local.pump.error
        out.error(f"plue: warning: the display failed: {type(error).__name__}: {error}")
    print_summary(out, run_id, model, str(outcome.status), mask)
    if outcome.signal is not None:
        return 128 + outcome.signal  # 130 for Ctrl-C, as shells report it
    return 0 if outcome.status == "success" else 1


def new_display(out: Output, model: RunModel, mask: Masker, title: str) -> Display:
    """A live view on a terminal (outside CI), else plain lines after a `==> title` line."""
    if out.is_terminal and not os.environ.get("CI"):
        return LiveDisplay(model, out.console, mask, title)
    out.line(f"==> {title}")
    return PlainDisplay(model, lambda line: click.echo(line), mask)


def print_summary(out: Output, run_id: int, model: RunModel, status: str, mask: Masker) -> None:
    steps = list(model.steps.values())
    counts: dict[str, int] = {}
    for step in steps:
        counts[step.status] = counts.get(step.status, 0) + 1
    took = ""
    if model.started_at is not None and model.finished is not None:
        took = f" in {format_duration(model.finished.at - model.started_at)}"
    tally = ", ".join(f"{count} {name}" for name, count in counts.items())
    out.line(f"run {run_id} {status}{took}: {plural(len(steps), 'step')} ({tally})")
    for step in steps:
        if step.status in ("failed", "timed_out", "cancelled") or (step.status == "skipped" and status != "success"):
            details = [f"exit code {step.exit_code}"] if step.exit_code not in (None, 0) else []
            details += [f"attempt {step.attempt}"] if step.attempt > 1 else []
            line = f"  {step.id} {step.status}" + (f" ({', '.join(details)})" if details else "")
            out.line(line + (f": {mask(step.note)}" if step.note else ""))
    if model.finished is not None and model.finished.error:
        out.line(f"  {mask(model.finished.error)}")
    out.line(f"details: plue run view {run_id}")


# --- the store ----------------------------------------------------------------------------


@contextmanager
def open_store(root: Path) -> Iterator[Store]:
    try:
        store = Store.open(repo=root)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        yield store
    except StoreError as exc:  # e.g. the database went away: a message, not an internal error
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()


def get_run(store: Store, run_id: int, *, recover: bool = False) -> RunRecord:
    if recover:
        # A run whose process dies while we follow it must end the wait: mark it interrupted.
        store.recover_interrupted()
    run = store.get_run(run_id)
    if run is None:
        raise NotFound(f"no run {run_id} in {store.url}")
    return run


def print_logs(store: Store, run_id: int, step_id: str | None, attempt: int | None, cursor: int) -> int:
    """Print the lines after `cursor`; the new cursor."""
    while True:
        records = store.read_logs(run_id, step_id=step_id, attempt=attempt, after=cursor, limit=LOG_PAGE)
        for record in records:
            click.echo(clean(log_text(record), limit=MAX_LINE_CHARS))
        if records:
            cursor = records[-1].id
        if len(records) < LOG_PAGE:
            return cursor


# --- where the repository and the workflow are ------------------------------------------------


def git_root(directory: Path) -> Path | None:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"], cwd=directory, capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return None
    top = result.stdout.strip()
    return Path(top).resolve() if result.returncode == 0 and top else None


def repo_root(repo: Path | None) -> Path:
    """``--repo``, else the git work tree of the current directory, else the directory."""
    if repo is not None:
        return repo.resolve()
    cwd = Path.cwd().resolve()
    return git_root(cwd) or cwd


def locate_workflow(target: str, repo: Path | None) -> tuple[Path, str]:
    """(repository root, repo-relative path) of FILE_OR_NAME: a file, else a workflow the registry knows."""
    path = Path(target)
    if path.is_file():
        directory = path.absolute().parent.resolve()
        root = repo.resolve() if repo is not None else git_root(directory) or _cwd_or(directory)
        if not directory.is_relative_to(root):
            raise click.BadParameter(f"{target} is not inside the repository {root}", param_hint="'FILE_OR_NAME'")
        if not is_workflow_name(path.name):
            raise click.BadParameter(f"{target} is not a workflow file (*.plue.py)", param_hint="'FILE_OR_NAME'")
        return root, (directory / path.name).relative_to(root).as_posix()
    root = repo_root(repo)
    with Registry(root) as registry:
        entries = registry.scan()
    found = [entry.path for entry in entries if _names(entry.path, entry.name, target)]
    if len(found) == 1:
        return root, found[0]
    if found:
        raise click.BadParameter(
            f"{target!r} could be any of {', '.join(found)}: give the path", param_hint="'FILE_OR_NAME'"
        )
    known = ", ".join(entry.path for entry in entries) or "none"
    raise NotFound(f"no workflow file or workflow named {target!r} in {root} (workflows: {known})")


def _names(path: str, name: str | None, target: str) -> bool:
    """Does `target` name this workflow: its path, file name, file stem, or name (any case)?"""
    base = path.rsplit("/", 1)[-1]
    return target in (path, base, base.removesuffix(".plue.py")) or (name or "").lower() == target.lower()


def _cwd_or(directory: Path) -> Path:
    cwd = Path.cwd().resolve()
    return cwd if directory.is_relative_to(cwd) else directory
