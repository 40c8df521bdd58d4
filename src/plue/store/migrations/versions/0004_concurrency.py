"""Concurrency groups: the group a queued run belongs to (from its plan's `concurrency`).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: added in place on SQLite and PostgreSQL alike; earlier runs belong to no group.
    op.add_column("runs", sa.Column("concurrency_group", sa.Text(), nullable=True))
    op.create_index("ix_runs_concurrency_group_status", "runs", ["concurrency_group", "status"])


def downgrade() -> None:
    op.drop_index("ix_runs_concurrency_group_status", table_name="runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("concurrency_group")
