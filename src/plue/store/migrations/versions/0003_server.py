"""The server: where runs come from, webhook deliveries, schedule ticks, API tokens.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")
RUN_COLUMNS: tuple[tuple[str, sa.types.TypeEngine[Any]], ...] = (
    ("repository", sa.Text()),
    ("sha", sa.Text()),
    ("ref", sa.Text()),
    ("branch", sa.Text()),
    ("delivery_id", sa.Text()),
    ("queued_at", sa.Double()),
)


def upgrade() -> None:
    # Nullable columns: added in place on SQLite and PostgreSQL alike, no table rebuild.
    for name, type_ in RUN_COLUMNS:
        op.add_column("runs", sa.Column(name, type_, nullable=True))
    op.create_index("ix_runs_repository_id", "runs", ["repository", "id"])

    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Text(), nullable=False),
        sa.Column("event", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=True),
        sa.Column("repository", sa.Text(), nullable=True),
        sa.Column("received_at", sa.Double(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("run_ids", JSON, nullable=False),
        sa.Column("payload", JSON, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_deliveries"),
        sa.UniqueConstraint("delivery_id", name="uq_deliveries_delivery_id"),
        sa.CheckConstraint("outcome IN ('queued', 'ignored', 'error')", name=op.f("ck_deliveries_outcome")),
    )
    op.create_table(
        "schedule_ticks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("scheduled_at", sa.Double(), nullable=False),
        sa.Column("fired_at", sa.Double(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_schedule_ticks"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_schedule_ticks_run_id_runs", ondelete="SET NULL"),
        sa.UniqueConstraint("key", "scheduled_at", name="uq_schedule_ticks_key_scheduled_at"),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("token_hash", sa.Text(), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("last_used_at", sa.Double(), nullable=True),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        sa.UniqueConstraint("name", name="uq_api_tokens_name"),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
        sa.CheckConstraint("scope IN ('read', 'write', 'admin')", name=op.f("ck_api_tokens_scope")),
    )


def downgrade() -> None:
    op.drop_table("api_tokens")
    op.drop_table("schedule_ticks")
    op.drop_table("deliveries")
    op.drop_index("ix_runs_repository_id", table_name="runs")
    with op.batch_alter_table("runs") as batch:
        for name, _ in reversed(RUN_COLUMNS):
            batch.drop_column(name)
