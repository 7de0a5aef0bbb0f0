"""index collector runs by finish time

The newest ``finished_at`` is part of the store version that the web application's response
cache checks on every request; with this index that is one index lookup however many runs
``serve --collect-every`` has recorded.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 22:50:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("collector_runs", schema=None) as batch_op:
        batch_op.create_index("ix_collector_runs_finished", ["finished_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("collector_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_collector_runs_finished")
