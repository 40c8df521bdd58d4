"""LLM usage per call: the turn, the latency, why the reply stopped and the provider's request id.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable columns: added in place on SQLite and PostgreSQL alike, no table rebuild.
    op.add_column("llm_usage", sa.Column("turn", sa.Integer(), nullable=True))
    op.add_column("llm_usage", sa.Column("latency_ms", sa.Double(), nullable=True))
    op.add_column("llm_usage", sa.Column("stop_reason", sa.Text(), nullable=True))
    op.add_column("llm_usage", sa.Column("request_id", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("llm_usage") as batch:
        for column in ("request_id", "stop_reason", "latency_ms", "turn"):
            batch.drop_column(column)
