"""what collectors keep besides: every revision of a build, labels of pull requests

``builds.revisions``: the git revisions a build checked out (remote URL, sha, branch) when it
checked out more than one, as a Jenkins pipeline that loads a shared library does; the build's
``commit_sha`` is the one of the team's repository, and the others stay visible here.

``pull_requests.labels`` (JSON list) and ``pull_requests.is_hotfix``: a pull request labelled
with one of ``[sources.github] hotfix_labels`` is a hotfix, and so are the deployments of its
commits.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from maturity.store.types import JSONText

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("builds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revisions", JSONText(), nullable=True))
    with op.batch_alter_table("pull_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("labels", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("is_hotfix", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pull_requests", schema=None) as batch_op:
        batch_op.drop_column("is_hotfix")
        batch_op.drop_column("labels")
    with op.batch_alter_table("builds", schema=None) as batch_op:
        batch_op.drop_column("revisions")
