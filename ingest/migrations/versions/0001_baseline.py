"""Baseline: the ledger's `messages` table as it was when migrations began.

A database created before Alembic (same table, no `alembic_version`) is
stamped with this revision instead of running it; see ingest/migrate.py.

Revision ID: 0001
Revises:
Create Date: 2026-12-02
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The columns a pre-Alembic `messages` table must have to be stamped as 0001.
COLUMNS = (
    "key", "message_id", "sender", "subject", "source_ref", "state", "ticket_id", "reason", "attempts",
    "claimed_at", "updated_at", "finished_at",
)


def upgrade() -> None:
    op.create_table(
        "messages",
        sa.Column("key", sa.String(128), primary_key=True),
        sa.Column("message_id", sa.Text(), nullable=True),
        sa.Column("sender", sa.String(320), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("source_ref", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("ticket_id", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_messages_message_id", "messages", ["message_id"])
    op.create_index("ix_messages_sender_claimed_at", "messages", ["sender", "claimed_at"])
    op.create_index("ix_messages_state_updated_at", "messages", ["state", "updated_at"])


def downgrade() -> None:
    op.drop_table("messages")
