"""The JSON of the runner routes (`plue.server.api.runners`), as pydantic models for the OpenAPI schema.

Times are float UNIX epoch seconds, as in the store.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

MAX_NAME_CHARS = 200
MAX_LABELS = 64


class RunnerRegistration(BaseModel):
    name: str = Field(min_length=1, max_length=MAX_NAME_CHARS, description="a name for people: host, pod, ...")
    labels: list[str] = Field(
        default_factory=list, max_length=MAX_LABELS, description="what it offers, e.g. linux, gpu"
    )
    version: str = Field(default="", max_length=MAX_NAME_CHARS, description="the plue version it runs")
    host: dict[str, Any] = Field(default_factory=dict, description="hostname, os, arch, python, cpus")
    capacity: int = Field(default=1, ge=1, le=64, description="runs it executes at once")
    pool: str | None = Field(default=None, max_length=MAX_NAME_CHARS, description="the warm pool that made it")


class Registered(BaseModel):
    runner_id: str = Field(description="name it in every later call; a new one each time it registers")
    heartbeat_seconds: float = Field(description="heartbeat this often")
    lost_after_seconds: float = Field(description="silent this long, it is lost: its runs go to other runners")
    claim_wait_seconds: float = Field(description="how long the server holds a claim when nothing is queued")


class ClaimedRun(BaseModel):
    id: int
    workflow_path: str
    workflow_name: str
    plan: dict[str, Any]
    event_name: str | None
    event: dict[str, Any] | None
    inputs: dict[str, Any]
    repository: str | None
    sha: str | None
    ref: str | None
    branch: str | None


class ReusedStep(BaseModel):
    outputs: dict[str, str]
    exit_code: int | None


class Claim(BaseModel):
    attempt_id: int = Field(description="the fencing token: send it with every report of this attempt")
    attempt: int = Field(description="which execution of the run this is: 1, then 2 after a lost runner, ...")
    run: ClaimedRun
    secrets: dict[str, str] = Field(description="the run's secrets, sent only here")
    attempt_base: dict[str, int] = Field(description="step id -> the highest step attempt stored: number after it")
    reuse: dict[str, ReusedStep] = Field(description="steps that succeeded before: take them over, do not run them")
    source: str | None = Field(description="where to fetch the commit's files (a gzipped tarball), if any")


class ClaimAnswer(BaseModel):
    claim: Claim


class HeartbeatRequest(BaseModel):
    attempts: list[int] = Field(default_factory=list, max_length=1000, description="the attempts it holds")


class HeartbeatReply(BaseModel):
    status: str = Field(description="idle | busy | draining | lost | offline (lost, offline: register again)")
    cancel: list[int] = Field(description="attempts whose run was cancelled: cancel them")
    abort: list[int] = Field(description="attempts that are not its own any more: stop them, report nothing")
    drain: bool = Field(description="finish what it runs, take nothing new, then leave")


class EventBatch(BaseModel):
    """Documents the body of `POST /api/attempts/{id}/events` (read by hand, to bound its size)."""

    seq: int = Field(ge=1, description="1, 2, ... per attempt; resend from `acked + 1`")
    events: list[dict[str, Any]] = Field(description="engine events in the wire format (plue.runners.wire)")


class BatchAck(BaseModel):
    acked: int = Field(description="the last batch stored: send `acked + 1` next")


class Fenced(BaseModel):
    detail: str
    fenced: bool = True


class Runner(BaseModel):
    id: str
    name: str
    labels: list[str]
    version: str
    host: dict[str, Any]
    capacity: int
    status: str = Field(description="idle | busy | draining | lost | offline")
    drain: bool
    pool: str | None
    registered_at: float
    last_heartbeat: float
    last_claim_at: float | None
    idle_since: float | None
    current_runs: list[int]


class Drained(BaseModel):
    id: str
    drain: bool


class Attempt(BaseModel):
    id: int
    run_id: int
    number: int
    runner_id: str
    runner_name: str | None
    status: str = Field(description="running | success | failed | cancelled | lost | aborted")
    claimed_at: float
    ended_at: float | None
    acked_seq: int
    error: str | None
