"""the files every commit changed, for monorepo path rules

``commit_files``: one row per file a commit changed (repository, sha, path) with its lines
added and deleted. Path rules in the configuration give the parts of a shared repository to
teams from these rows when scoring, so changing the rules needs no new collection.

The git cursors are cleared: the next collection reads every repository's history once more
(commits already stored are left as they are) and records the files of the commits collected
before this revision.

Revision ID: 0007
Revises: 0003
Create Date: 2026-12-07 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "commit_files",
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("sha", sa.String(length=64), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("additions", sa.Integer(), nullable=False),
        sa.Column("deletions", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f("fk_commit_files_repository_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("repository_id", "sha", "path", name=op.f("pk_commit_files")),
    )
    op.execute(sa.text("DELETE FROM cursors WHERE source = 'git'"))


def downgrade() -> None:
    op.drop_table("commit_files")
