"""Runners: registered `plue runner` agents, the attempts they make at runs, the labels a run needs.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")
RUNNER_STATUSES = "status IN ('idle', 'busy', 'draining', 'lost', 'offline')"
ATTEMPT_STATUSES = "status IN ('running', 'success', 'failed', 'cancelled', 'lost', 'aborted')"
SCOPES_BEFORE = "scope IN ('read', 'write', 'admin')"
SCOPES_AFTER = "scope IN ('read', 'write', 'admin', 'runner')"


def upgrade() -> None:
    # Added in place on SQLite and PostgreSQL alike: nullable, or NOT NULL with a default for existing rows.
    op.add_column("runs", sa.Column("runs_on", JSON, nullable=True))
    op.add_column("runs", sa.Column("max_attempts", sa.Integer(), nullable=False, server_default="2"))

    op.create_table(
        "runners",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("labels", JSON, nullable=False),
        sa.Column("version", sa.Text(), nullable=False),
        sa.Column("host", JSON, nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("drain", sa.Boolean(), nullable=False),
        sa.Column("pool", sa.Text(), nullable=True),
        sa.Column("token_name", sa.Text(), nullable=True),
        sa.Column("registered_at", sa.Double(), nullable=False),
        sa.Column("last_heartbeat", sa.Double(), nullable=False),
        sa.Column("last_claim_at", sa.Double(), nullable=True),
        sa.Column("idle_since", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_runners"),
        sa.CheckConstraint(RUNNER_STATUSES, name=op.f("ck_runners_status")),
    )
    op.create_index("ix_runners_status", "runners", ["status"])

    op.create_table(
        "run_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("runner_id", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("claimed_at", sa.Double(), nullable=False),
        sa.Column("ended_at", sa.Double(), nullable=True),
        sa.Column("acked_seq", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_run_attempts"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_run_attempts_run_id_runs", ondelete="CASCADE"),
        sa.UniqueConstraint("run_id", "number", name="uq_run_attempts_run_id_number"),
        sa.CheckConstraint(ATTEMPT_STATUSES, name=op.f("ck_run_attempts_status")),
        # An attempt id is a fencing token: never hand out a deleted attempt's id again.
        sqlite_autoincrement=True,
    )
    op.create_index("ix_run_attempts_runner_id_status", "run_attempts", ["runner_id", "status"])

    # SQLite cannot alter a CHECK constraint: batch mode copies the table with the new one.
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_constraint(op.f("ck_api_tokens_scope"), type_="check")
        batch.create_check_constraint(op.f("ck_api_tokens_scope"), SCOPES_AFTER)


def downgrade() -> None:
    op.execute("DELETE FROM api_tokens WHERE scope = 'runner'")
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_constraint(op.f("ck_api_tokens_scope"), type_="check")
        batch.create_check_constraint(op.f("ck_api_tokens_scope"), SCOPES_BEFORE)
    op.drop_index("ix_run_attempts_runner_id_status", table_name="run_attempts")
    op.drop_table("run_attempts")
    op.drop_index("ix_runners_status", table_name="runners")
    op.drop_table("runners")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("max_attempts")
        batch.drop_column("runs_on")
