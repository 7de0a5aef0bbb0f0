"""Plotly figures of stored levels and metric values, shared by the web pages and the reports.

Every name that comes from data (teams, dimensions, criteria) goes through :func:`label`:
plotly reads a few HTML tags in text, so a team called ``<img src=x onerror=...>`` must reach
it escaped.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go

from maturity import metrics

LEVEL_NAMES = ("Base", "Beginner", "Intermediate", "Advanced", "Expert")
_LAYOUT = {
    "margin": {"l": 56, "r": 16, "t": 40, "b": 48},
    "height": 340,
    "legend": {"orientation": "h", "y": -0.2},
    "paper_bgcolor": "rgba(0,0,0,0)",
    "plot_bgcolor": "rgba(0,0,0,0)",
}
_TIER_COLOURS = {"elite": "#1a7f37", "high": "#4c9a2a", "medium": "#bf8700"}


def label(text: object) -> str:
    """Text as plotly shows it literally."""
    return html.escape(str(text), quote=True)


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
) -> go.Figure:
    """Teams (rows) x dimensions (columns), cells coloured and labelled by level."""
    fig = _figure(title)
    z = [[None if v is None else v for v in row] for row in levels]
    text = [["—" if v is None else LEVEL_NAMES[v] for v in row] for row in levels]
    fig.add_heatmap(
        z=z,
        x=[label(d) for d in dimensions],
        y=[label(t) for t in teams],
        text=text,
        texttemplate="%{text}",
        zmin=0,
        zmax=4,
        colorscale="Blues",
        colorbar={"tickvals": [0, 1, 2, 3, 4], "ticktext": list(LEVEL_NAMES), "title": "level"},
        hovertemplate="%{y} · %{x}: %{text}<extra></extra>",
        xgap=2,
        ygap=2,
    )
    fig.update_yaxes(autorange="reversed", automargin=True)
    fig.update_xaxes(side="top", automargin=True)
    fig.update_layout(height=max(240, 60 + 28 * len(teams)), margin={"t": 64})
    return fig


def level_trend(
    snapshots: pd.DataFrame, *, title: str, names: dict[str, str] | None = None
) -> go.Figure:
    """One line per dimension of the stored fractional score over period ends (one team).

    ``names`` maps dimension ids to the names shown in the legend (default: the ids).
    """
    names = names or {}
    fig = _figure(title)
    for dimension, rows in snapshots.groupby("dimension", sort=True):
        rows = rows.sort_values("period_end")
        fig.add_scatter(
            x=[pd.Timestamp(d).date().isoformat() for d in rows["period_end"]],
            y=rows["score"].astype(float).tolist(),
            mode="lines+markers",
            name=label(names.get(str(dimension), dimension)),
            hovertemplate="%{x}: %{y:.2f}<extra>%{fullData.name}</extra>",
        )
    fig.update_yaxes(
        range=[0, 4.1],
        tickvals=[0, 1, 2, 3, 4],
        ticktext=list(LEVEL_NAMES),
        title_text="score",
    )
    fig.update_xaxes(type="date", title_text="week ending")
    return fig


def metric_trend(series: pd.DataFrame, *, metric: str, title: str) -> go.Figure:
    """A stored metric over period ends (one team), with DORA tier bounds as reference lines."""
    fig = _figure(title)
    rows = series[series["metric"] == metric].sort_values("period_end")
    unit = metrics.CATALOGUE[metric].unit if metric in metrics.CATALOGUE else ""
    fig.add_scatter(
        x=[pd.Timestamp(d).date().isoformat() for d in rows["period_end"]],
        y=[None if pd.isna(v) else float(v) for v in rows["value"]],
        mode="lines+markers",
        name=label(metric),
        connectgaps=False,
        hovertemplate="%{x}: %{y:.3g} " + label(unit) + "<extra></extra>",
    )
    if metric in metrics.DORA_TIERS:
        _direction, bounds = metrics.DORA_TIERS[metric]
        for tier, bound in bounds:
            fig.add_hline(
                y=bound,
                line={"dash": "dot", "width": 1, "color": _TIER_COLOURS.get(tier, "#888")},
                annotation_text=f"{tier} {'≥' if _direction == 'higher' else '≤'} {bound:.3g}",
                annotation_position="top left",
                annotation_font_size=10,
            )
    fig.update_yaxes(title_text=label(unit), rangemode="tozero")
    fig.update_xaxes(type="date", title_text="week ending")
    fig.update_layout(showlegend=False)
    return fig


def organisation_trend(trend: pd.DataFrame, names: dict[str, str], *, title: str) -> go.Figure:
    """Mean stored score of the teams per dimension and week."""
    fig = _figure(title)
    for dimension, rows in trend.groupby("dimension", sort=True):
        fig.add_scatter(
            x=[pd.Timestamp(d).date().isoformat() for d in rows["period_end"]],
            y=rows["score"].astype(float).tolist(),
            customdata=rows["teams"].tolist(),
            mode="lines",
            name=label(names.get(str(dimension), dimension)),
            hovertemplate="%{x}: %{y:.2f} (%{customdata} teams)<extra>%{fullData.name}</extra>",
        )
    fig.update_yaxes(
        range=[0, 4.1], tickvals=[0, 1, 2, 3, 4], ticktext=list(LEVEL_NAMES), title_text="mean"
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
