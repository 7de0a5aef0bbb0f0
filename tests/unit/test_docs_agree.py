"""docs/scoring.md, the README and the code say the same: the catalogue, the tier edges and the
change-failure denominator (each edge is tested on the code too)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from maturity import metrics

ROOT = Path(__file__).resolve().parents[2]
SCORING = (ROOT / "docs" / "scoring.md").read_text(encoding="utf-8")
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_metric_of_the_catalogue_has_its_row_in_docs_scoring() -> None:
    for m in metrics.CATALOGUE.values():
        row = f"| `{m.name}` | {m.unit} | {', '.join(m.sources)} | {m.records} | {m.description} |"
        assert row in SCORING, m.name


def _table(header: str) -> list[str]:
    """The rows of the table of docs/scoring.md under ``header`` (header and rule left out)."""
    lines = SCORING.splitlines()
    start = lines.index(header)
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


def test_the_metric_table_of_docs_scoring_is_the_catalogue_row_for_row() -> None:
    """No row the catalogue lacks, none missing, in the catalogue's order."""
    rows = _table("| metric | unit | tables | records behind a value | definition |")
    expected = [
        f"| `{m.name}` | {m.unit} | {', '.join(m.sources)} | {m.records} | {m.description} |"
        for m in metrics.CATALOGUE.values()
    ]
    assert rows == expected


def test_the_reads_outside_the_window_table_names_every_metric_with_needs_and_no_other() -> None:
    rows = _table("| metric | reads before the window | reads after the period end |")
    named = {name for row in rows for name in re.findall(r"`([a-z_]+)`", row.split("|")[1])}
    assert named <= set(metrics.CATALOGUE), named - set(metrics.CATALOGUE)
    with_needs = {m.name for m in metrics.CATALOGUE.values() if m.needs}
    assert with_needs and with_needs <= named, with_needs - named


@pytest.mark.parametrize("doc", [SCORING, README], ids=["scoring.md", "README"])
def test_both_documents_give_the_tier_edges_the_code_uses(doc: str) -> None:
    assert "| lead time for changes | <= 1 day | <= 1 week | <= 30 days |" in doc
    assert "| deployment frequency | on demand (> 7 a week" in doc
    assert "| change failure rate | <= 5 % | <= 20 % | <= 40 % | more |" in doc
    assert "failed deployment recovery time | <= 1 hour | <= 1 day | <= 1 week |" in doc


@pytest.mark.parametrize(
    ("metric", "value", "expected"),
    [
        ("lead_time_hours", 24.0, "elite"),  # "<= 1 day": a day exactly is elite
        ("lead_time_hours", 24.0 + 1e-6, "high"),
        ("lead_time_hours", 24.0 * 7, "high"),  # "<= 1 week"
        ("lead_time_hours", 24.0 * 7 + 1e-6, "medium"),
        ("lead_time_hours", 24.0 * 30, "medium"),  # "<= 30 days"
        ("lead_time_hours", 24.0 * 30 + 1e-6, "low"),
        ("change_failure_rate", 0.05, "elite"),
        ("change_failure_rate", 0.2, "high"),
        ("change_failure_rate", 0.4, "medium"),
        ("change_failure_rate", 0.4 + 1e-6, "low"),
        ("time_to_restore_hours", 1.0, "elite"),
        ("time_to_restore_hours", 24.0, "high"),
        ("failed_deployment_recovery_hours", 24.0 * 7, "medium"),
        ("failed_deployment_recovery_hours", 24.0 * 7 + 1e-6, "low"),
        ("deployment_frequency", 7.0, "high"),  # daily: "daily to weekly"
        ("deployment_frequency", 7.0 + 1e-6, "elite"),  # more than daily: on demand
        ("deployment_frequency", 1.0, "high"),  # weekly: still "daily to weekly"
        ("deployment_frequency", 1.0 - 1e-6, "medium"),
        ("deployment_frequency", 12 / 52, "medium"),  # monthly: still "weekly to monthly"
        ("deployment_frequency", 12 / 52 - 1e-6, "low"),
    ],
)
def test_tier_edges(metric: str, value: float, expected: str) -> None:
    assert metrics.tier(metric, value) == expected


@pytest.mark.parametrize("doc", [SCORING, README], ids=["scoring.md", "README"])
def test_both_documents_count_change_failures_over_deployments_started_in_the_window(
    doc: str,
) -> None:
    flat = " ".join(doc.split())
    assert "production deployments started in the window that finished" in flat
    assert "finished (succeeded or failed) in the window" not in flat
