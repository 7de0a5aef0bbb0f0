"""Plotly figures of stored levels and metric values, shared by the web pages and the reports.

Every name that comes from data (teams, dimensions, criteria) goes through :func:`label`:
plotly reads a few HTML tags in text, so a team called ``<img src=x onerror=...>`` must reach
it escaped.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

import pandas as pd
import plotly.colors
import plotly.graph_objects as go

from maturity import display, metrics
from maturity.environments import WeekCount

_LAYOUT = {
    "margin": {"l": 56, "r": 16, "t": 40, "b": 48},
    "height": 340,
    "legend": {"orientation": "h", "y": -0.2},
    "paper_bgcolor": "rgba(0,0,0,0)",
    "plot_bgcolor": "rgba(0,0,0,0)",
}
_TIER_COLOURS = {"elite": "#1a7f37", "high": "#4c9a2a", "medium": "#bf8700", "low": "#b42318"}
#: a metric whose largest value is this many times its smallest is drawn on a log axis
LOG_RANGE = 20.0
_HOURS = (0.25, 1.0, 4.0, 12.0, 24.0, 72.0, 168.0, 720.0, 2160.0, 4320.0, 8760.0)
_DURATION_TICKS = {"hours": _HOURS, "days": tuple(h / 24 for h in _HOURS)}
_ROUND_TICKS = tuple(m * 10.0**e for e in range(-3, 5) for m in (1, 2, 5))
#: heat map: pixels per team row, and above the rows (the dimension names on top)
_ROW_PX, _HEAT_TOP, _HEAT_BOTTOM = 30, 64, 8


def label(text: object) -> str:
    """Text as plotly shows it literally: plotly reads a few HTML tags and entities in labels.

    The one escaper of every chart, on the pages and in the reports; quotes too (``quote=True``),
    so that a name stays text wherever plotly puts it (an attribute of an SVG element included).
    """
    return html.escape(str(text), quote=True)


def _weekly(dates: Sequence[Any], *columns: Sequence[Any]) -> tuple[list[Any], ...]:
    """Dates as ISO text and their columns, with a gap (None) put in each run of weeks that was
    not scored, so that a line never draws a trend across months without data."""
    days = [pd.Timestamp(d).date() for d in dates]
    xs: list[str] = []
    ys: list[list[Any]] = [[] for _ in columns]
    for i, day in enumerate(days):
        if i and (day - days[i - 1]).days > 7:
            xs.append((days[i - 1] + (day - days[i - 1]) / 2).isoformat())
            for col in ys:
                col.append(None)
        xs.append(day.isoformat())
        for col, values in zip(ys, columns, strict=True):
            col.append(values[i])
    return (xs, *ys)


def _figure(title: str) -> go.Figure:
    fig = go.Figure(layout=_LAYOUT)
    fig.update_layout(title={"text": label(title), "x": 0, "font": {"size": 14}})
    return fig


def level_heatmap(
    teams: Sequence[str],
    dimensions: Sequence[str],
    levels: Sequence[Sequence[int | None]],
    *,
    title: str = "Levels",
    no_data: Sequence[Sequence[bool]] | None = None,
) -> go.Figure:
    """Teams (rows) x dimensions (columns), cells coloured and labelled by level.

    A cell of ``no_data`` (none of the dimension's criteria had data) is left blank and reads
    "no data"; a cell without a snapshot reads "—". The figure is as tall as its rows.
    """
    fig = _figure(title)
    blank = no_data or [[False] * len(row) for row in levels]
    z = [
        [None if v is None or b else v for v, b in zip(row, brow, strict=True)]
        for row, brow in zip(levels, blank, strict=True)
    ]
    text = [
        [
            "—" if v is None else (display.NO_DATA if b else display.LEVELS[v])
            for v, b in zip(row, brow, strict=True)
        ]
        for row, brow in zip(levels, blank, strict=True)
    ]
    fig.add_heatmap(
        z=z,
        x=[label(d) for d in dimensions],
        y=[label(t) for t in teams],
        text=text,
        texttemplate="%{text}",
        zmin=0,
        zmax=4,
        colorscale="Blues",
        colorbar={"tickvals": [0, 1, 2, 3, 4], "ticktext": list(display.LEVELS), "title": "level"},
        hovertemplate="%{y} · %{x}: %{text}<extra></extra>",
        xgap=2,
        ygap=2,
    )
    fig.update_yaxes(autorange="reversed", automargin=True, showgrid=False)
    fig.update_xaxes(side="top", automargin=True, showgrid=False)
    rows = max(len(teams), 4)  # the colour bar's five labels need about four rows
    fig.update_layout(
        height=_HEAT_TOP + _ROW_PX * rows + _HEAT_BOTTOM,
        margin={"t": _HEAT_TOP, "b": _HEAT_BOTTOM},
        plot_bgcolor="#f3f5f8",  # what a blank (no data) cell shows
    )
    return fig


def level_trend(
    snapshots: pd.DataFrame, *, title: str, names: dict[str, str] | None = None
) -> go.Figure:
    """One line per dimension of the stored fractional score over period ends (one team).

    ``names`` maps dimension ids to the names shown in the legend (default: the ids). Weeks in
    which none of a dimension's criteria had data (coverage 0) are gaps, not scores of 0.
    """
    names = names or {}
    fig = _figure(title)
    for dimension, rows in snapshots.groupby("dimension", sort=True):
        rows = rows.sort_values("period_end")
        known = (
            rows["coverage"].astype(float) > 0
            if "coverage" in rows
            else pd.Series(True, index=rows.index)
        )
        x, y = _weekly(
            list(rows["period_end"]),
            [
                float(v) if ok else None
                for v, ok in zip(rows["score"].astype(float), known, strict=True)
            ],
        )
        fig.add_scatter(
            x=x,
            y=y,
            connectgaps=False,
            mode="lines+markers",
            name=label(names.get(str(dimension), dimension)),
            hovertemplate="%{x}: %{y:.2f}<extra>%{fullData.name}</extra>",
        )
    fig.update_yaxes(
        range=[0, 4.1],
        tickvals=[0, 1, 2, 3, 4],
        ticktext=list(display.LEVELS),
        title_text="score",
    )
    fig.update_xaxes(type="date", title_text="week ending")
    return fig


def metric_trend(series: pd.DataFrame, *, metric: str, title: str) -> go.Figure:
    """A stored metric over period ends (one team), scaled to its values, over its DORA tiers.

    The axis spans the data, not the tier bounds: a 5-hour lead time is not drawn as a flat line
    under a 720-hour bound. Durations read in hours or days by size, shares as percentages, and
    values that span more than :data:`LOG_RANGE` times go on a log axis. The DORA tiers are
    shaded bands behind the line, each named where it is visible.
    """
    fig = _figure(title)
    rows = series[series["metric"] == metric].sort_values("period_end")
    unit = metrics.CATALOGUE[metric].unit if metric in metrics.CATALOGUE else ""
    raw = [None if pd.isna(v) else float(v) for v in rows["value"]]
    known = [v for v in raw if v is not None]
    factor, axis_title = display.axis_unit(unit, known)
    x, y, text = _weekly(
        list(rows["period_end"]),
        [None if v is None else v * factor for v in raw],
        [display.value(v, unit) for v in raw],
    )
    fig.add_scatter(
        x=x,
        y=y,
        customdata=text,
        mode="lines+markers",
        name=label(metric),
        connectgaps=False,
        hovertemplate="%{x}: %{customdata}<extra></extra>",
    )
    low, high = (min(known), max(known)) if known else (0.0, 1.0)
    log = unit != "share" and low > 0 and high / low >= LOG_RANGE
    if unit == "share":
        bottom, top = 0.0, min(1.0, max(high * 1.2, 0.05))
        fig.update_yaxes(tickformat=".0%", range=[bottom, top])
        axis_title = "share"
    elif log:
        bottom, top = low / 1.6, high * 1.6
        fig.update_yaxes(type="log", range=[math.log10(bottom * factor), math.log10(top * factor)])
        # A log axis reads best at round values (1 h, 24 h, 7 days; 0.5, 1, 2, 5 a week)
        # than at plotly's 2-3-4-5 minor ticks.
        round_ticks = _DURATION_TICKS.get(unit, _ROUND_TICKS)
        ticks = [t for t in round_ticks if bottom <= t <= top]
        fig.update_yaxes(
            tickvals=[t * factor for t in ticks],
            ticktext=[
                display.value(t, unit) if unit in _DURATION_TICKS else display.number(t)
                for t in ticks
            ],
        )
        axis_title = "log scale" if unit in _DURATION_TICKS else f"{axis_title}, log scale"
    else:
        bottom, top = 0.0, (high * 1.2 if high > 0 else 1.0)
        fig.update_yaxes(range=[0, top * factor])
    if metric in metrics.DORA_TIERS:
        _tier_bands(fig, metric, unit, factor, bottom, top, log=log)
    fig.update_yaxes(title_text=label(axis_title))
    fig.update_xaxes(type="date", title_text="week ending")
    fig.update_layout(showlegend=False)
    return fig


def _tier_bands(
    fig: go.Figure,
    metric: str,
    unit: str,
    factor: float,
    bottom: float,
    top: float,
    *,
    log: bool,
) -> None:
    """Shade each DORA tier's span of the axis ``[bottom, top]`` (catalogue units), labelled."""
    direction, bounds = metrics.DORA_TIERS[metric]
    edges = [b for _, b in bounds]
    names = [t for t, _ in bounds] + ["low"]
    spans = []  # (tier, lower, upper, label) in catalogue units
    if direction == "lower":  # elite from 0 up to its bound, then high, medium, low
        lows = [0.0, *edges]
        highs = [*edges, math.inf]
        for tier, lo, hi in zip(names, lows, highs, strict=True):
            text = (
                f"≤ {display.value(hi, unit)}" if hi != math.inf else f"> {display.value(lo, unit)}"
            )
            spans.append((tier, lo, hi, f"{tier} {text}"))
    else:  # higher is better: elite from its bound up, then high, medium, low below
        highs = [math.inf, *edges]
        lows = [*edges, 0.0]
        for tier, lo, hi in zip(names, lows, highs, strict=True):
            text = f"≥ {display.value(lo, unit)}" if lo > 0 else f"< {display.value(hi, unit)}"
            spans.append((tier, lo, hi, f"{tier} {text}"))
    for tier, lo, hi, text in spans:
        lo_v, hi_v = max(lo, bottom), min(hi, top)
        if lo_v >= hi_v:
            continue  # this tier lies outside what the data spans
        colour = _TIER_COLOURS.get(tier, "#888")
        fig.add_hrect(
            y0=lo_v * factor,
            y1=hi_v * factor,
            fillcolor=colour,
            opacity=0.09,
            line_width=0,
            layer="below",
        )
        middle = math.sqrt(lo_v * hi_v) if log and lo_v > 0 else (lo_v + hi_v) / 2
        fig.add_annotation(
            xref="paper",
            x=1,
            xanchor="right",
            y=math.log10(middle * factor) if log else middle * factor,
            yanchor="middle",
            text=label(text),
            showarrow=False,
            font={"size": 10, "color": colour},
            bgcolor="rgba(255,255,255,0.7)",
        )


def organisation_trend(trend: pd.DataFrame, names: dict[str, str], *, title: str) -> go.Figure:
    """Mean stored score of the teams with data per dimension and week (``scores.score_trend``:
    a team with coverage 0 in a dimension is not in its mean, and ``teams`` counts the others).

    A week scored for only some of the teams (one team scored alone, a team with its own dates)
    is not the organisation's mean: its points stand apart, as open markers that say how many
    teams they hold, and the line does not run through them.
    """
    fig = _figure(title)
    palette = plotly.colors.qualitative.Plotly
    for i, (dimension, rows) in enumerate(trend.groupby("dimension", sort=True)):
        colour = palette[i % len(palette)]
        name = label(names.get(str(dimension), dimension))
        everyone = int(rows["teams"].max())
        full = rows["teams"] == everyone
        scores = rows["score"].astype(float)
        x, y, teams = _weekly(
            list(rows["period_end"]),
            [float(v) if ok else None for v, ok in zip(scores, full, strict=True)],
            rows["teams"].tolist(),
        )
        fig.add_scatter(
            x=x,
            y=y,
            customdata=teams,
            connectgaps=False,
            mode="lines",
            name=name,
            legendgroup=name,
            line={"color": colour},
            hovertemplate="%{x}: %{y:.2f} (%{customdata} teams)<extra>%{fullData.name}</extra>",
        )
        partial = rows[~full]
        if not partial.empty:
            fig.add_scatter(
                x=[pd.Timestamp(d).date().isoformat() for d in partial["period_end"]],
                y=partial["score"].astype(float).tolist(),
                customdata=partial["teams"].tolist(),
                mode="markers",
                name=name,
                legendgroup=name,
                showlegend=False,
                marker={"color": colour, "symbol": "circle-open", "size": 7},
                hovertemplate="%{x}: %{y:.2f} (only %{customdata} of "
                + str(everyone)
                + " teams)<extra>%{fullData.name}</extra>",
            )
    fig.update_yaxes(
        range=[0, 4.1], tickvals=[0, 1, 2, 3, 4], ticktext=list(display.LEVELS), title_text="mean"
    )
    fig.update_xaxes(type="date", title_text="week ending")
    return fig


def level_distribution(counts: Sequence[tuple[int, str, int]], *, title: str) -> go.Figure:
    """Bars: how many teams are at each level."""
    fig = _figure(title)
    fig.add_bar(
        x=[name for _, name, _ in counts],
        y=[n for _, _, n in counts],
        hovertemplate="%{x}: %{y} teams<extra></extra>",
    )
    fig.update_yaxes(title_text="teams", rangemode="tozero")
    return fig


_DEPLOYMENTS_LAYOUT = {
    "margin": {"l": 48, "r": 16, "t": 16, "b": 48},
    "height": 320,
    "barmode": "stack",
    "legend": {"orientation": "h", "y": -0.2},
    "paper_bgcolor": "rgba(0,0,0,0)",
    "plot_bgcolor": "rgba(0,0,0,0)",
}


def deployments_per_week(weeks: Sequence[WeekCount]) -> go.Figure:
    """Stacked bars: successful deployments per week, one colour per environment."""
    fig = go.Figure(layout=_DEPLOYMENTS_LAYOUT)
    environments = list(dict.fromkeys(w.environment for w in weeks))
    for env in environments:
        mine = [w for w in weeks if w.environment == env]
        fig.add_bar(
            x=[w.week.isoformat() for w in mine],
            y=[w.deployments for w in mine],
            name=label(env),
            hovertemplate="%{x}: %{y}<extra>%{fullData.name}</extra>",
        )
    fig.update_xaxes(title_text="week starting", type="date")
    fig.update_yaxes(title_text="successful deployments", rangemode="tozero")
    return fig
