"""scope leases: one worker at a time collects a (source, scope) in distributed mode

``scope_leases`` holds, per (source, scope), the worker that collects it now and until when
(a lease a killed worker cannot renew runs out), and the run key and outcome of the last task
that finished it, so that a task delivered twice collects once.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 01:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import maturity.store.types

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "scope_leases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=500), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=True),
        sa.Column("expires_at", maturity.store.types.UTCDateTime(), nullable=True),
        sa.Column("done_key", sa.String(length=64), nullable=True),
        sa.Column("result", maturity.store.types.JSONText(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scope_leases")),
        sa.UniqueConstraint("source", "scope", name=op.f("uq_scope_leases_source_scope")),
    )


def downgrade() -> None:
    op.drop_table("scope_leases")
