"""Claim leases: who works on a message, until when (ingest/leases.py).

Two NULL-able columns; existing rows keep everything and have no lease
(an unfinished one is claimable at once, as before).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("lease_owner", sa.String(200), nullable=True))
    op.add_column("messages", sa.Column("lease_expires", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("lease_expires")
        batch.drop_column("lease_owner")
