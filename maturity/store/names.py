"""The names the store shows the outside, as plain text: no SQLAlchemy, no pandas to import.

The command line names them in its help, which every ``maturity`` start builds; the export reads
(``maturity.store.export.EXPORTABLE``) map each to its table, and a test keeps both equal.
"""

from __future__ import annotations

#: the tables ``maturity export`` offers, in dependency order
EXPORTABLE: tuple[str, ...] = (
    "teams",
    "repositories",
    "commits",
    "tags",
    "branches",
    "pull_requests",
    "reviews",
    "builds",
    "deployments",
    "issues",
    "issue_transitions",
    "collector_runs",
    "snapshots",
    "metric_values",
)
