"""The JSON the API answers with, as pydantic models so the OpenAPI schema documents it.

Times are float UNIX epoch seconds (null until they happen), as in the store.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class WorkflowRef(BaseModel):
    id: int
    path: str
    name: str


class RunSummary(BaseModel):
    id: int
    workflow: WorkflowRef
    status: str = Field(description="queued | running | success | failed | cancelled | interrupted")
    event: str | None = Field(description="the event name: push, pull_request, issues, schedule, manual, ...")
    repository: str | None = None
    sha: str | None = None
    ref: str | None = None
    branch: str | None = None
    created_at: float
    queued_at: float | None = None
    started_at: float | None
    finished_at: float | None
    duration: float | None = Field(description="seconds from start to finish (null until both happened)")
    attempt: int
    parent_run_id: int | None
    concurrency_group: str | None = Field(None, description="the plan's concurrency group: one run of it at a time")


class RunList(BaseModel):
    runs: list[RunSummary]
    next: int | None = Field(description="pass as `before` for the next (older) page; null on the last page")


class StepAttempt(BaseModel):
    id: str
    status: str = Field(description="pending | running | success | failed | skipped | cancelled | timed_out")
    attempt: int
    exit_code: int | None
    outputs: dict[str, str]
    error: str | None
    reason: str | None = Field(description="why the step was skipped")
    started_at: float | None
    finished_at: float | None
    reused: bool = Field(description="a rerun carried an earlier success over instead of running the step")


class Step(StepAttempt):
    depends_on: list[str]
    type: str | None
    attempts: list[StepAttempt] = Field(description="every attempt, oldest first")


class LlmCall(BaseModel):
    step_id: str
    attempt: int
    turn: int | None
    model: str
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost_usd: float
    latency_ms: float | None
    stop_reason: str | None
    request_id: str | None
    at: float


class RunDetail(RunSummary):
    inputs: dict[str, Any]
    error: str | None
    cancel_requested: bool
    steps: list[Step] = Field(description="the latest attempt of each step, in topological order")
    llm_usage: list[LlmCall]


class LogLine(BaseModel):
    id: int = Field(description="the cursor: pass the last one seen as `after`")
    step_id: str
    attempt: int
    seq: int
    stream: str = Field(description="stdout | stderr | system | llm.token | llm.tool_call | llm.tool_result")
    at: float
    text: str


class LogPage(BaseModel):
    lines: list[LogLine]
    next: int = Field(description="pass as `after` to read the lines stored since")
    run_status: str


class CancelResult(BaseModel):
    id: int
    cancel_requested: bool
    status: str


class QueuedRun(BaseModel):
    id: int
    status: str
    parent_run_id: int | None = None


class Repository(BaseModel):
    name: str
    url: str
    default_branch: str


class WorkflowInfo(BaseModel):
    path: str
    name: str | None
    triggers: list[dict[str, Any]]
    problems: list[str] = Field(description="why the workflow cannot run (`path:line:col: message`); empty when ok")


class RepositoryWorkflows(BaseModel):
    repository: str
    ref: str
    sha: str
    workflows: list[WorkflowInfo]


class DispatchRequest(BaseModel):
    ref: str | None = Field(default=None, description="a branch name or full ref (default: the default branch)")
    inputs: dict[str, Any] = Field(default_factory=dict, description="the workflow's manual inputs")


class Delivery(BaseModel):
    id: int
    delivery_id: str
    event: str
    action: str | None
    repository: str | None
    received_at: float
    outcome: str = Field(description="queued | ignored | error")
    reason: str | None
    run_ids: list[int]


class DeliveryList(BaseModel):
    deliveries: list[Delivery]
    next: int | None


class Token(BaseModel):
    name: str
    scope: str
    created_at: float
    last_used_at: float | None
    revoked: bool


class Health(BaseModel):
    status: str
    database: str
