"""The initial schema: workflows, runs, steps, log lines, llm usage.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Hand-written to match `plue.store.models` (tests/test_store_migrations.py compares them).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# op.f(): final names, not run through the models' naming convention ("ck_%(table)s_%(name)s") again.
RUN_STATUSES = "status IN ('queued', 'running', 'success', 'failed', 'cancelled', 'interrupted')"
STEP_STATUSES = "status IN ('pending', 'running', 'success', 'failed', 'skipped', 'cancelled', 'timed_out')"


def upgrade() -> None:
    op.create_table(
        "workflows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.Text(), nullable=False),
        sa.Column("plan", JSON, nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_workflows"),
        sa.UniqueConstraint("path", "content_hash", name="uq_workflows_path_content_hash"),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workflow_id", sa.Integer(), nullable=False),
        sa.Column("workflow_path", sa.Text(), nullable=False),
        sa.Column("workflow_name", sa.Text(), nullable=False),
        sa.Column("plan", JSON, nullable=False),
        sa.Column("event_name", sa.Text(), nullable=True),
        sa.Column("event", JSON, nullable=True),
        sa.Column("inputs", JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("parent_run_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("started_at", sa.Double(), nullable=True),
        sa.Column("finished_at", sa.Double(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("owner", sa.Text(), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
        sa.ForeignKeyConstraint(["workflow_id"], ["workflows.id"], name="fk_runs_workflow_id_workflows"),
        sa.ForeignKeyConstraint(["parent_run_id"], ["runs.id"], name="fk_runs_parent_run_id_runs", ondelete="SET NULL"),
        sa.CheckConstraint(RUN_STATUSES, name=op.f("ck_runs_status")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_runs_workflow_id", "runs", ["workflow_id"])
    op.create_index("ix_runs_parent_run_id", "runs", ["parent_run_id"])
    op.create_index("ix_runs_status_id", "runs", ["status", "id"])
    op.create_index("ix_runs_workflow_path_id", "runs", ["workflow_path", "id"])
    op.create_index("ix_runs_workflow_name_id", "runs", ["workflow_name", "id"])

    op.create_table(
        "steps",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("step_id", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("outputs", JSON, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("reused", sa.Boolean(), nullable=False),
        sa.Column("started_at", sa.Double(), nullable=True),
        sa.Column("finished_at", sa.Double(), nullable=True),
        sa.Column("extra", JSON, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_steps"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_steps_run_id_runs", ondelete="CASCADE"),
        sa.UniqueConstraint("run_id", "step_id", "attempt", name="uq_steps_run_id_step_id_attempt"),
        sa.CheckConstraint(STEP_STATUSES, name=op.f("ck_steps_status")),
    )

    op.create_table(
        "log_lines",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("step_id", sa.Text(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("stream", sa.Text(), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_log_lines"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_log_lines_run_id_runs", ondelete="CASCADE"),
        sa.UniqueConstraint("run_id", "step_id", "attempt", "seq", name="uq_log_lines_run_id_step_id_attempt_seq"),
    )
    op.create_index("ix_log_lines_run_id_id", "log_lines", ["run_id", "id"])
    op.create_index("ix_log_lines_run_id_step_id_id", "log_lines", ["run_id", "step_id", "id"])

    op.create_table(
        "llm_usage",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("step_id", sa.Text(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cache_read_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cache_write_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost_usd", sa.Double(), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_llm_usage"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_llm_usage_run_id_runs", ondelete="CASCADE"),
    )
    op.create_index("ix_llm_usage_run_id_step_id_attempt", "llm_usage", ["run_id", "step_id", "attempt"])


def downgrade() -> None:
    op.drop_table("llm_usage")
    op.drop_table("log_lines")
    op.drop_table("steps")
    op.drop_table("runs")
    op.drop_table("workflows")
