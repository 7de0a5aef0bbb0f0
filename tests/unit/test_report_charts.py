"""The shared chart builders: one line per dimension, DORA tier lines, names escaped."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from maturity import metrics
from reports import charts

HOSTILE = "<img src=x onerror=alert(1)>"


def _snapshots() -> pd.DataFrame:
    ends = [dt.date(2026, 11, 1), dt.date(2026, 11, 8)]
    return pd.DataFrame(
        [
            {"team": HOSTILE, "dimension": d, "period_end": e, "score": 1.0 + i}
            for d in ("deployment", "source_control")
            for i, e in enumerate(ends)
        ]
    )


def test_level_trend_draws_one_line_per_dimension_with_shown_names() -> None:
    fig = charts.level_trend(_snapshots(), title=HOSTILE, names={"deployment": "Deployment"})
    assert [t.name for t in fig.data] == ["Deployment", "source_control"]
    assert list(fig.data[0].y) == [1.0, 2.0]
    assert "<img" not in fig.layout.title.text and "&lt;img" in fig.layout.title.text


def test_metric_trend_has_a_reference_line_per_dora_tier_bound() -> None:
    series = pd.DataFrame(
        {
            "metric": ["lead_time_hours"] * 3,
            "period_end": [dt.date(2026, 11, d) for d in (1, 8, 15)],
            "value": [30.0, None, 12.0],
        }
    )
    fig = charts.metric_trend(series, metric="lead_time_hours", title="Lead time")
    bounds = sorted(s.y0 for s in fig.layout.shapes)
    assert bounds == sorted(b for _, b in metrics.DORA_TIERS["lead_time_hours"][1])
    assert list(fig.data[0].y) == [30.0, None, 12.0]  # unknown stays a gap, not zero
    plain = charts.metric_trend(series.assign(metric="commits"), metric="commits", title="c")
    assert len(plain.layout.shapes) == 0


def test_heat_map_labels_are_escaped() -> None:
    fig = charts.level_heatmap([HOSTILE], ["Deployment"], [[2]])
    assert fig.data[0].y == ("&lt;img src=x onerror=alert(1)&gt;",)
    assert [list(row) for row in fig.data[0].text] == [["Intermediate"]]
