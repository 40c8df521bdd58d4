"""The routes `plue runner` agents call, and the views of runners.

    POST   /api/runners                    register: 201 {runner_id, heartbeat_seconds, ...}      runner|admin
    POST   /api/runners/{id}/claim         long poll: 200 {claim}, 204 none (yet), 409 draining,   runner|admin
                                           410 unknown/lost/offline (register again)
    POST   /api/runners/{id}/heartbeat     {attempts}: 200 {status, cancel, abort, drain}, 410     runner|admin
    DELETE /api/runners/{id}               leave: 204 (attempts still held are lost now)           runner|admin
    GET    /api/attempts/{id}/source       the run's commit as a gzipped tarball; 409 fenced       runner|admin
    POST   /api/attempts/{id}/events       {seq, events}: 200 {acked}; 409 fenced; 400 bad event   runner|admin
    GET    /api/runners                    the runners (`all`: lost and offline ones too)          read
    POST   /api/runners/{id}/drain         finish the current run, take no new one: 202            admin
    GET    /api/runs/{id}/attempts         the run's executions by runners                         read
    GET    /api/pool                       the warm pool's status, or {"enabled": false}           read

A runner token may act only for the runners it registered (an admin token for any). The claim is a
long poll: the request is held up to `claim_wait_seconds`, claiming again whenever this process
queues a run (`QueueSignal`) and every `CLAIM_POLL_SECONDS` for runs queued elsewhere; it holds no
database transaction while it waits, and ends at once when the server stops or the runner hangs up.
Event batches are decoded with `plue.runners.wire` before anything is stored; see `plue.store.attempts`
for sequence numbers and fencing.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import time
import uuid
from typing import Annotated, Any, Final

import anyio
from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse

from plue.runners import wire
from plue.server.api import runner_models as models
from plue.server.api.state import ServerState, StateDep, not_found
from plue.server.auth import RUNNER_SCOPE, require, require_runner
from plue.server.queue_signal import queue_signal
from plue.store import (
    BatchAnswer,
    BatchRefused,
    Claim,
    RunnerDraining,
    RunnerGone,
    RunnerRecord,
    StoreUnavailable,
    TokenRecord,
)

router = APIRouter(tags=["runners"])

CLAIM_POLL_SECONDS: Final = 0.5  # how soon a waiting claim notices runs queued by another process
MAX_BATCH_EVENTS: Final = 5_000
MAX_BATCH_BYTES: Final = 8 * 1024 * 1024
MAX_ID: Final = 2**31 - 1  # ids are 32-bit in the database
ARCHIVES_DIR: Final = "archives"  # under the data dir: source tarballs of commits, for runners
ARCHIVES_KEPT: Final = 32  # per repository
ARCHIVE_MIN_AGE_SECONDS: Final = 600.0

RunnerToken = Annotated[TokenRecord, Depends(require_runner())]
AttemptId = Annotated[int, Path(ge=1, le=MAX_ID, description="the attempt's id: the claim's attempt_id")]


# --- registration, heartbeats, leaving ---------------------------------------------------------------------


@router.post("/runners", response_model=models.Registered, status_code=201)
def register(registration: models.RunnerRegistration, state: StateDep, token: RunnerToken) -> models.Registered:
    """Register a runner agent; it gets a new id (a runner registers again after it was lost)."""
    try:
        runner = state.store.register_runner(
            registration.name,
            registration.labels,
            registration.version,
            registration.host,
            registration.capacity,
            pool=registration.pool,
            token_name=token.name,
        )
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    settings = state.config.runners
    return models.Registered(
        runner_id=runner.id,
        heartbeat_seconds=settings.heartbeat_seconds,
        lost_after_seconds=settings.lost_after_seconds,
        claim_wait_seconds=settings.claim_wait_seconds,
    )


@router.post(
    "/runners/{runner_id}/heartbeat",
    response_model=models.HeartbeatReply,
    responses={410: {"description": "unknown runner: register again"}},
)
def heartbeat(
    runner_id: str, state: StateDep, token: RunnerToken, beat: Annotated[models.HeartbeatRequest, Body()]
) -> models.HeartbeatReply:
    """The runner is alive and holds `attempts`; what it must cancel, abort, or whether to drain."""
    _own_runner(state, token, runner_id)
    try:
        answer = state.store.runner_heartbeat(
            runner_id, beat.attempts, orphan_after=state.config.runners.lost_after_seconds
        )
    except RunnerGone as exc:
        raise HTTPException(410, str(exc)) from None
    return models.HeartbeatReply(status=answer.status, cancel=answer.cancel, abort=answer.abort, drain=answer.drain)


@router.delete("/runners/{runner_id}", status_code=204, response_class=Response)
def deregister(runner_id: str, state: StateDep, token: RunnerToken) -> Response:
    """The runner leaves (offline); runs it still held go back to the queue."""
    if _own_runner(state, token, runner_id) is None:
        raise not_found(f"no runner {runner_id}")
    lost = state.store.deregister_runner(runner_id)
    if any(item.requeued for item in lost):
        _queue_changed(state)
    return Response(status_code=204)


# --- claims ------------------------------------------------------------------------------------------------


@router.post(
    "/runners/{runner_id}/claim",
    response_model=models.ClaimAnswer,
    responses={
        204: {"description": "nothing to claim within claim_wait_seconds: ask again"},
        409: {"description": "the runner is draining: finish, deregister, exit"},
        410: {"description": "the runner is unknown, lost or offline: register again"},
    },
)
async def claim(runner_id: str, request: Request, state: StateDep, token: RunnerToken) -> Response:
    """Claim the oldest queued run this runner has the labels for, waiting up to `claim_wait_seconds`."""
    store = state.store
    runner = await anyio.to_thread.run_sync(_own_runner, state, token, runner_id)
    if runner is None:
        raise HTTPException(410, f"no runner {runner_id}: register again")
    signal = queue_signal(state)
    deadline = anyio.current_time() + state.config.runners.claim_wait_seconds
    while True:
        version = signal.version()  # before claiming: a run queued from now on ends the wait below
        try:
            claimed = await anyio.to_thread.run_sync(store.claim_for_runner, runner_id)
        except RunnerGone as exc:
            raise HTTPException(410, str(exc)) from None
        except RunnerDraining as exc:
            raise HTTPException(409, str(exc)) from None
        except StoreUnavailable:
            claimed = None  # the database is busy: try again at the next poll
        if claimed is not None:
            return JSONResponse(models.ClaimAnswer(claim=_claim_json(state, claimed)).model_dump(mode="json"))
        remaining = deadline - anyio.current_time()
        if remaining <= 0 or signal.closed:
            return Response(status_code=204)
        await signal.wait(version, min(CLAIM_POLL_SECONDS, remaining))
        if await request.is_disconnected():  # never claim a run for a runner that hung up
            return Response(status_code=204)


def _claim_json(state: ServerState, claimed: Claim) -> models.Claim:
    run = claimed.run
    has_source = run.repository is not None and run.sha is not None
    return models.Claim(
        attempt_id=claimed.attempt_id,
        attempt=claimed.attempt,
        run=models.ClaimedRun(
            id=run.id,
            workflow_path=run.workflow_path,
            workflow_name=run.workflow_name,
            plan=run.plan,
            event_name=run.event_name,
            event=run.event,
            inputs=run.inputs,
            repository=run.repository,
            sha=run.sha,
            ref=run.ref,
            branch=run.branch,
        ),
        secrets=state.config.secrets_for(run.repository),
        attempt_base=claimed.attempt_base,
        reuse={
            step_id: models.ReusedStep(outputs=item.outputs, exit_code=item.exit_code)
            for step_id, item in claimed.reuse.items()
        },
        source=f"/api/attempts/{claimed.attempt_id}/source" if has_source else None,
    )


# --- an attempt's source and events ------------------------------------------------------------------------


@router.get(
    "/attempts/{attempt_id}/source",
    response_class=FileResponse,
    responses={
        200: {"content": {"application/gzip": {}}, "description": "the commit's files, paths relative"},
        404: {"description": "no such attempt, or its run has no repository on this server"},
        409: {"description": "the attempt is over (fenced)"},
    },
)
def source(attempt_id: AttemptId, state: StateDep, token: RunnerToken) -> FileResponse:
    """The files of the run's commit, as `git archive --format=tar.gz` makes them."""
    from plue.server.mirrors import MirrorError

    attempt = state.store.get_attempt(attempt_id)
    if attempt is None:
        raise not_found(f"no attempt {attempt_id}")
    _own_runner(state, token, attempt.runner_id)
    if attempt.status != "running":
        raise HTTPException(409, f"attempt {attempt_id} is {attempt.status}: it gets nothing more")
    run = state.store.get_run(attempt.run_id)
    if run is None or run.repository is None or run.sha is None:
        raise not_found(f"run {attempt.run_id} has no repository to fetch")
    mirror = state.mirrors.get(run.repository) if state.mirrors is not None else None
    if mirror is None:
        raise not_found(f"repository {run.repository} is not configured on this server")
    directory = state.config.data_dir / ARCHIVES_DIR / hashlib.sha256(run.repository.encode()).hexdigest()[:16]
    path = directory / f"{run.sha}.tar.gz"
    if not path.is_file():  # a commit's files never change: made once, then served to every attempt at it
        temp = directory / f".{run.sha}-{uuid.uuid4().hex}.tmp"
        try:
            mirror.archive(run.sha, temp)
            os.replace(temp, path)  # whole or absent, for concurrent claims of the same commit
        except MirrorError as exc:
            raise HTTPException(503, str(exc)) from None
        finally:
            temp.unlink(missing_ok=True)
        _prune_archives(directory)
    return FileResponse(path, media_type="application/gzip", filename=f"{run.sha}.tar.gz")


def _prune_archives(directory: pathlib.Path) -> None:
    """Keep the newest `ARCHIVES_KEPT` tarballs; older ones go once no download can still be starting."""
    now = time.time()
    try:
        found = sorted(directory.glob("*.tar.gz"), key=lambda item: item.stat().st_mtime, reverse=True)
        for old in found[ARCHIVES_KEPT:]:
            if now - old.stat().st_mtime > ARCHIVE_MIN_AGE_SECONDS:
                old.unlink(missing_ok=True)
    except OSError:
        pass  # another claim pruned at the same time: nothing is lost by keeping a file


@router.post(
    "/attempts/{attempt_id}/events",
    response_model=models.BatchAck,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": models.EventBatch.model_json_schema()}},
        }
    },
    responses={
        400: {"description": "a malformed batch or an event that cannot be stored (the detail names it)"},
        409: {"model": models.Fenced, "description": "fenced: the attempt is over; stop and drop what is held"},
        413: {"description": "more than 8 MiB"},
    },
)
async def events(attempt_id: AttemptId, request: Request, state: StateDep, token: RunnerToken) -> Response:
    """Store a batch of the attempt's events once (a batch sent again is acknowledged, not stored again)."""
    attempt = await anyio.to_thread.run_sync(state.store.get_attempt, attempt_id)
    if attempt is not None:
        await anyio.to_thread.run_sync(_own_runner, state, token, attempt.runner_id)
    body = await _read_body(request, MAX_BATCH_BYTES)
    answer, finished = await anyio.to_thread.run_sync(_apply_batch, state, attempt_id, body)
    if answer.fenced:
        return JSONResponse({"detail": answer.reason or "the attempt is over", "fenced": True}, status_code=409)
    if finished:
        _queue_changed(state)  # a group's next run may be claimable now
    return JSONResponse({"acked": answer.acked})


async def _read_body(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise HTTPException(413, f"a batch is at most {limit} bytes; send fewer events at a time")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"a batch is at most {limit} bytes; send fewer events at a time")
        chunks.append(chunk)
    return b"".join(chunks)


def _apply_batch(state: ServerState, attempt_id: int, body: bytes) -> tuple[BatchAnswer, bool]:
    """Parse, decode and store a batch (in a worker thread: decoding megabytes takes a while)."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise HTTPException(400, f"the body is not JSON: {exc}") from None
    if not isinstance(data, dict) or set(data) != {"seq", "events"}:
        raise HTTPException(400, 'the body must be {"seq": N, "events": [...]}')
    seq, items = data["seq"], data["events"]
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
        raise HTTPException(400, f"seq must be a whole number from 1, not {seq!r:.40}")
    if isinstance(items, list) and len(items) > MAX_BATCH_EVENTS:
        raise HTTPException(400, f"a batch holds at most {MAX_BATCH_EVENTS} events, not {len(items)}")
    try:
        decoded = wire.decode_batch(items)
    except wire.WireError as exc:
        raise HTTPException(400, str(exc)) from None
    events = [wire.encode(event) for event in decoded]  # normalised: what the store applies
    try:
        answer = state.store.apply_attempt_batch(attempt_id, seq, events)
    except BatchRefused as exc:
        raise HTTPException(400, str(exc)) from None
    finished = any(event["type"] == "run_finished" for event in events)
    return answer, finished and not answer.fenced


# --- views and control ----------------------------------------------------------------------------------------


@router.get("/runners", response_model=list[models.Runner], dependencies=[Depends(require("read"))])
def list_runners(
    state: StateDep,
    include_gone: Annotated[bool, Query(alias="all", description="also the lost and offline runners")] = False,
) -> list[models.Runner]:
    """The registered runners: labels, status, current runs, last heartbeat."""
    return [
        models.Runner.model_validate(runner.to_json()) for runner in state.store.list_runners(include_gone=include_gone)
    ]


@router.post(
    "/runners/{runner_id}/drain",
    response_model=models.Drained,
    status_code=202,
    dependencies=[Depends(require("admin"))],
)
def drain(runner_id: str, state: StateDep) -> models.Drained:
    """Let the runner finish what it runs and take nothing new (it then leaves)."""
    if not state.store.drain_runner(runner_id):
        raise not_found(f"no live runner {runner_id}")
    return models.Drained(id=runner_id, drain=True)


@router.get("/runs/{run_id}/attempts", response_model=list[models.Attempt], dependencies=[Depends(require("read"))])
def run_attempts(run_id: Annotated[int, Path(ge=1, le=MAX_ID)], state: StateDep) -> list[models.Attempt]:
    """The run's executions by runner agents, oldest first (none for runs of the built-in workers)."""
    if state.store.get_run(run_id) is None:
        raise not_found(f"no run {run_id}")
    return [models.Attempt.model_validate(attempt.to_json()) for attempt in state.store.attempts(run_id)]


@router.get("/pool", dependencies=[Depends(require("read"))])
def pool_status(state: StateDep) -> dict[str, Any]:
    """The warm pool: its pools, their runners and its recent decisions; `{"enabled": false}` without one."""
    pool = state.extras.get("pool")
    if pool is None:
        return {"enabled": False}
    status: dict[str, Any] = pool.status()
    return status


# --- helpers ----------------------------------------------------------------------------------------------


def _own_runner(state: ServerState, token: TokenRecord, runner_id: str) -> RunnerRecord | None:
    """The runner (None if unknown); 403 when a runner token acts for a runner another token registered."""
    runner = state.store.get_runner(runner_id)
    if (
        runner is not None
        and token.scope == RUNNER_SCOPE
        and runner.token_name is not None
        and runner.token_name != token.name
    ):
        raise HTTPException(403, f"token {token.name!r} did not register runner {runner.name}; it may not act for it")
    return runner


def _queue_changed(state: ServerState) -> None:
    """Runs may be claimable now: wake this process's built-in workers and waiting claims."""
    if state.service is not None:
        state.service.wake()
    else:
        queue_signal(state).notify()
