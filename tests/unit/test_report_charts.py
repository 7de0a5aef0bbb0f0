"""The shared chart builders: one line per dimension, DORA tier lines, names escaped."""

from __future__ import annotations

import datetime as dt

import pandas as pd

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


def _lead_times(*values: float | None) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "metric": ["lead_time_hours"] * len(values),
            "period_end": [
                dt.date(2026, 11, 1) + dt.timedelta(weeks=i) for i in range(len(values))
            ],
            "value": list(values),
        }
    )


def test_metric_trend_scales_to_its_data_and_shades_the_tiers_it_spans() -> None:
    fig = charts.metric_trend(_lead_times(30.0, None, 12.0), metric="lead_time_hours", title="L")
    assert list(fig.data[0].y) == [30.0, None, 12.0]  # unknown stays a gap, not zero
    bottom, top = fig.layout.yaxis.range
    assert bottom == 0 and 30.0 < top < 50  # the data's span, not the 720-hour bound
    assert fig.layout.yaxis.type != "log"
    bands = sorted((s.y0, s.y1) for s in fig.layout.shapes)
    assert bands == [(0.0, 24.0), (24.0, top)]  # elite up to a day, high above it
    assert [a.text for a in fig.layout.annotations] == ["elite ≤ 24 h", "high ≤ 7 days"]
    assert list(fig.data[0].customdata) == ["30 h", "unknown", "12 h"]
    plain = charts.metric_trend(
        _lead_times(1.0).assign(metric="commits"), metric="commits", title="c"
    )
    assert len(plain.layout.shapes) == 0


def test_metric_trend_of_a_wide_range_is_a_log_axis_in_days() -> None:
    fig = charts.metric_trend(_lead_times(2.0, 900.0), metric="lead_time_hours", title="L")
    assert fig.layout.yaxis.type == "log"
    assert list(fig.data[0].y) == [2.0 / 24, 900.0 / 24]  # shown in days
    assert "30 days" in fig.layout.yaxis.ticktext and "4 h" in fig.layout.yaxis.ticktext
    tiers = {a.text.split()[0] for a in fig.layout.annotations}
    assert tiers == {"elite", "high", "medium", "low"}


def test_share_trend_reads_in_percent() -> None:
    series = _lead_times(0.03, 0.1).assign(metric="change_failure_rate")
    fig = charts.metric_trend(series, metric="change_failure_rate", title="CFR")
    assert fig.layout.yaxis.tickformat == ".0%"
    assert list(fig.data[0].customdata) == ["3%", "10%"]


def test_weeks_without_data_are_gaps_in_the_level_trend_and_blank_in_the_heat_map() -> None:
    snaps = _snapshots().assign(coverage=[0.0, 0.5, 1.0, 1.0])
    fig = charts.level_trend(snaps, title="t")
    assert list(fig.data[0].y) == [None, 2.0]
    heat = charts.level_heatmap(["a", "b"], ["D"], [[0], [0]], no_data=[[True], [False]])
    assert [list(r) for r in heat.data[0].text] == [["no data"], ["Base"]]
    assert [list(r) for r in heat.data[0].z] == [[None], [0]]


def test_heat_map_is_as_tall_as_its_rows() -> None:
    small = charts.level_heatmap(["a"] * 4, ["D"], [[1]] * 4)
    large = charts.level_heatmap(["a"] * 40, ["D"], [[1]] * 40)
    assert large.layout.height - small.layout.height == 36 * 30


def test_heat_map_labels_are_escaped() -> None:
    fig = charts.level_heatmap([HOSTILE], ["Deployment"], [[2]])
    assert fig.data[0].y == ("&lt;img src=x onerror=alert(1)&gt;",)
    assert [list(row) for row in fig.data[0].text] == [["Intermediate"]]


def test_trend_lines_break_over_weeks_that_were_not_scored() -> None:
    weeks = [dt.date(2025, 6, 1), dt.date(2025, 6, 8), dt.date(2026, 6, 7)]
    snaps = pd.DataFrame(
        {"dimension": "d", "period_end": weeks, "score": [1.0, 1.0, 0.0], "coverage": 1.0}
    )
    level = charts.level_trend(snaps, title="t")
    assert list(level.data[0].y) == [1.0, 1.0, None, 0.0]  # no line across the empty year
    series = pd.DataFrame({"metric": "lead_time_hours", "period_end": weeks, "value": [5, 6, 7]})
    lead = charts.metric_trend(series, metric="lead_time_hours", title="l")
    assert list(lead.data[0].y) == [5, 6, None, 7]
    trend = charts.organisation_trend(snaps.assign(teams=2), {"d": "D"}, title="o")
    assert list(trend.data[0].y) == [1.0, 1.0, None, 0.0]


def test_weeks_scored_for_only_some_teams_stand_apart_from_the_organisation_line() -> None:
    weeks = [dt.date(2026, 11, 8), dt.date(2026, 11, 15), dt.date(2026, 11, 22)]
    trend = pd.DataFrame(
        {"dimension": "d", "period_end": weeks, "score": [2.0, 2.5, 0.5], "teams": [6, 6, 1]}
    )
    fig = charts.organisation_trend(trend, {"d": "D"}, title="o")
    line, alone = fig.data
    assert list(line.y) == [2.0, 2.5, None]  # the line is the mean of all the teams only
    assert (
        list(alone.y) == [0.5] and alone.mode == "markers" and "of 6 teams" in alone.hovertemplate
    )
    assert alone.showlegend is False and alone.marker.color == line.line.color


def test_a_hostile_team_name_in_a_report_chart_is_escaped_quotes_included() -> None:
    hostile = "<img src=x onerror='alert(1)'> \"q\""
    fig = charts.level_heatmap([hostile], ["Deployment"], [[2]])
    # html.escape by hand, quotes too: ' -> &#x27; and " -> &quot;
    assert fig.data[0].y == ("&lt;img src=x onerror=&#x27;alert(1)&#x27;&gt; &quot;q&quot;",)
