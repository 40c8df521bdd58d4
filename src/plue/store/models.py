"""The tables, as SQLAlchemy Core metadata (the migrations in `migrations/versions` must match them).

Timestamps are float UNIX epoch seconds (UTC by definition), as the engine reports
them: one representation from the engine to the JSON output, no time zones to get
wrong. JSON is JSONB on PostgreSQL and text on SQLite.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB

# The same status strings as `plue.engine.events` (the store may not import the engine).
RUN_STATUSES = ("queued", "running", "success", "failed", "cancelled", "interrupted")
STEP_STATUSES = ("pending", "running", "success", "failed", "skipped", "cancelled", "timed_out")
DELIVERY_OUTCOMES = ("queued", "ignored", "error")
# read < write < admin are levels (each allows what the ones before it allow); runner is apart: a
# `plue runner` agent's token, accepted only by the runner routes.
TOKEN_SCOPES = ("read", "write", "admin", "runner")
RUNNER_STATUSES = ("idle", "busy", "draining", "lost", "offline")
ATTEMPT_STATUSES = ("running", "success", "failed", "cancelled", "lost", "aborted")

# Explicit constraint names: the same on both databases, and stable for later migrations.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# Python None is SQL NULL (not the JSON 'null'), so "no event" reads back as None on both databases.
Json = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
# 64-bit on PostgreSQL; on SQLite only INTEGER PRIMARY KEY is the fast rowid alias.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


workflows = Table(
    "workflows",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("path", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("content_hash", Text, nullable=False),
    Column("plan", Json, nullable=False),
    Column("created_at", Double, nullable=False),
    UniqueConstraint("path", "content_hash"),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("workflow_id", Integer, ForeignKey("workflows.id"), nullable=False, index=True),
    # Copied from the workflow so listing and filtering need no join.
    Column("workflow_path", Text, nullable=False),
    Column("workflow_name", Text, nullable=False),
    Column("plan", Json, nullable=False),
    Column("event_name", Text),
    Column("event", Json),
    Column("inputs", Json, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempt", Integer, nullable=False),
    # A rerun outlives the run it reran if that one is deleted.
    Column("parent_run_id", Integer, ForeignKey("runs.id", ondelete="SET NULL"), index=True),
    Column("created_at", Double, nullable=False),
    Column("started_at", Double),
    Column("finished_at", Double),
    Column("error", Text),
    Column("owner", Text),  # host:pid:process-start-time of the process executing it
    Column("cancel_requested", Boolean, nullable=False),
    # Where a server run comes from (None for local runs): the repository and commit it runs at.
    Column("repository", Text),  # "owner/name"
    Column("sha", Text),
    Column("ref", Text),
    Column("branch", Text),
    Column("delivery_id", Text),  # the webhook delivery that queued it
    Column("queued_at", Double),
    # Runs of one group run one at a time (the plan's `concurrency`); None: no group.
    Column("concurrency_group", Text),
    # The labels a runner needs (sorted; None: any runner, the built-in workers included).
    Column("runs_on", Json),
    # How many attempts a run gets when its runner is lost (the plan's `max_attempts`).
    Column("max_attempts", Integer, nullable=False, server_default="2"),
    CheckConstraint(_in("status", RUN_STATUSES), name="status"),
    # list_runs: newest first, optionally by status, workflow or repository; recovery: running runs;
    # claim_run: the oldest queued run.
    Index(None, "status", "id"),
    Index(None, "workflow_path", "id"),
    Index(None, "workflow_name", "id"),
    Index(None, "repository", "id"),
    # claim_run and enqueue: the group's running and queued runs.
    Index(None, "concurrency_group", "status"),
    # Run ids are what users type: never hand out a deleted run's id again.
    sqlite_autoincrement=True,
)

steps = Table(
    "steps",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("step_id", Text, nullable=False),
    Column("position", Integer, nullable=False),  # index in the plan's steps: plan order
    Column("attempt", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("exit_code", Integer),
    Column("outputs", Json, nullable=False),
    Column("error", Text),
    Column("reason", Text),  # why it was skipped
    Column("reused", Boolean, nullable=False),
    Column("started_at", Double),
    Column("finished_at", Double),
    Column("extra", Json),
    CheckConstraint(_in("status", STEP_STATUSES), name="status"),
    # Every attempt keeps its row; this key also serves "all steps of a run".
    UniqueConstraint("run_id", "step_id", "attempt"),
)

log_lines = Table(
    "log_lines",
    metadata,
    Column("id", BigId, primary_key=True),  # commit order: the read_logs cursor
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("step_id", Text, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("stream", Text, nullable=False),
    Column("at", Double, nullable=False),
    Column("text", Text, nullable=False),
    # A batch delivered twice is stored once.
    UniqueConstraint("run_id", "step_id", "attempt", "seq"),
    # read_logs pages by id after a cursor, for a whole run or one step.
    Index(None, "run_id", "id"),
    Index(None, "run_id", "step_id", "id"),
)

llm_usage = Table(
    "llm_usage",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("step_id", Text, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("model", Text, nullable=False),
    Column("input_tokens", BigInteger, nullable=False),
    Column("output_tokens", BigInteger, nullable=False),
    Column("cache_read_tokens", BigInteger, nullable=False),
    Column("cache_write_tokens", BigInteger, nullable=False),
    Column("cost_usd", Double, nullable=False),
    Column("at", Double, nullable=False),
    Column("turn", Integer, nullable=True),
    Column("latency_ms", Double, nullable=True),
    Column("stop_reason", Text, nullable=True),
    Column("request_id", Text, nullable=True),
    Index(None, "run_id", "step_id", "attempt"),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True),  # the list_deliveries cursor
    Column("delivery_id", Text, nullable=False),  # GitHub's X-GitHub-Delivery
    Column("event", Text, nullable=False),
    Column("action", Text),
    Column("repository", Text),
    Column("received_at", Double, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("reason", Text),
    Column("run_ids", Json, nullable=False),
    Column("payload", Json),  # the decoded body, to redeliver it later
    CheckConstraint(_in("outcome", DELIVERY_OUTCOMES), name="outcome"),
    # A delivery is handled once, however often (and by however many processes) it arrives.
    UniqueConstraint("delivery_id"),
)

schedule_ticks = Table(
    "schedule_ticks",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", Text, nullable=False),  # which schedule: the scheduler's name for a workflow's cron trigger
    Column("scheduled_at", Double, nullable=False),
    Column("fired_at", Double, nullable=False),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="SET NULL")),
    # Each tick fires once across processes and restarts; also serves last_schedule_tick.
    UniqueConstraint("key", "scheduled_at"),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", Text, nullable=False),
    Column("token_hash", Text, nullable=False),  # sha256 hex of the token: the token itself is never stored
    Column("scope", String(16), nullable=False),
    Column("created_at", Double, nullable=False),
    Column("last_used_at", Double),
    Column("revoked", Boolean, nullable=False),
    CheckConstraint(_in("scope", TOKEN_SCOPES), name="scope"),
    UniqueConstraint("name"),
    UniqueConstraint("token_hash"),
)

runners = Table(
    "runners",
    metadata,
    Column("id", Text, primary_key=True),  # uuid4 hex, given at registration
    Column("name", Text, nullable=False),
    Column("labels", Json, nullable=False),  # sorted list
    Column("version", Text, nullable=False),
    Column("host", Json, nullable=False),  # hostname, os, arch, python, cpus
    Column("capacity", Integer, nullable=False),  # runs at once
    Column("status", String(16), nullable=False),
    Column("drain", Boolean, nullable=False),  # finish what it runs, take nothing new
    Column("pool", Text),  # the warm pool that made it, if any
    Column("token_name", Text),  # the API token it registered with
    Column("registered_at", Double, nullable=False),
    Column("last_heartbeat", Double, nullable=False),
    Column("last_claim_at", Double),
    Column("idle_since", Double),  # None while it runs something
    CheckConstraint(_in("status", RUNNER_STATUSES), name="status"),
    # The reaper: live runners by heartbeat; list_runners without the gone ones.
    Index(None, "status"),
)

run_attempts = Table(
    "run_attempts",
    metadata,
    # The fencing token: every report of a runner names it; only the run's current attempt is heard.
    Column("id", Integer, primary_key=True),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("number", Integer, nullable=False),  # 1, 2, ... per run
    Column("runner_id", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("claimed_at", Double, nullable=False),
    Column("ended_at", Double),
    Column("acked_seq", Integer, nullable=False),  # the last event batch stored (0: none yet)
    Column("error", Text),
    CheckConstraint(_in("status", ATTEMPT_STATUSES), name="status"),
    UniqueConstraint("run_id", "number"),
    # A runner's running attempts (heartbeats, capacity, the reaper).
    Index(None, "runner_id", "status"),
    # Never hand out a deleted attempt's id again: it is a fencing token.
    sqlite_autoincrement=True,
)
