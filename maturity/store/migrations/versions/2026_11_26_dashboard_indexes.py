"""indexes for the dashboards

``collector_runs.finished_at``: the newest finish is part of the store version that the web
application's response cache checks on every request; with this index that is one index
lookup however many runs ``serve --collect-every`` has recorded.

``snapshots (period_end, dimension, score)``: the organisation trend reads this covering index
instead of every snapshot row with its evidence.

On SQLite, ``snapshots`` and ``metric_values`` become AUTOINCREMENT tables: re-scoring deletes
and inserts rows, and without AUTOINCREMENT SQLite hands the deleted newest ids out again, so
the store version (newest ids) would not change when the newest week is re-scored.
PostgreSQL's sequences never reuse a value.

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
    if op.get_bind().dialect.name == "sqlite":
        for table in ("snapshots", "metric_values"):  # nothing references them: safe to rebuild
            with op.batch_alter_table(
                table, recreate="always", table_kwargs={"sqlite_autoincrement": True}
            ):
                pass
    with op.batch_alter_table("collector_runs", schema=None) as batch_op:
        batch_op.create_index("ix_collector_runs_finished", ["finished_at"], unique=False)
    with op.batch_alter_table("snapshots", schema=None) as batch_op:
        batch_op.create_index(
            "ix_snapshots_trend", ["period_end", "dimension", "score"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("snapshots", schema=None) as batch_op:
        batch_op.drop_index("ix_snapshots_trend")
    with op.batch_alter_table("collector_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_collector_runs_finished")
