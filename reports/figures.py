"""Temporary report figures (replaced by ``reports.charts`` at merge; same signatures)."""

from __future__ import annotations

import html

import pandas as pd
import plotly.graph_objects as go

_LAYOUT = {
    "margin": {"l": 56, "r": 16, "t": 40, "b": 40},
    "height": 300,
    "legend": {"orientation": "h", "y": -0.18},
    "paper_bgcolor": "white",
    "plot_bgcolor": "white",
}


def _label(text: str) -> str:
    """Plotly reads a few HTML tags in labels: untrusted text is shown literally."""
    return html.escape(str(text), quote=False)


def level_trend(snapshots: pd.DataFrame, *, title: str) -> go.Figure:
    """One line per dimension: the fractional score (0-4) per scored week."""
    fig = go.Figure(layout=_LAYOUT)
    for dim, rows in snapshots.groupby("dimension", sort=False):
        fig.add_scatter(
            x=[d.isoformat() for d in rows["period_end"]],
            y=[round(float(s), 2) for s in rows["score"]],
            mode="lines+markers",
            name=_label(str(dim)),
        )
    fig.update_layout(title={"text": _label(title), "font": {"size": 14}})
    fig.update_xaxes(type="date", gridcolor="#ddd")
    fig.update_yaxes(
        title_text="score",
        range=[0, 4.1],
        tickvals=[0, 1, 2, 3, 4],
        ticktext=["Base", "Beginner", "Intermediate", "Advanced", "Expert"],
        gridcolor="#ddd",
    )
    return fig


def metric_trend(series: pd.DataFrame, *, metric: str, title: str) -> go.Figure:
    """One metric's stored weekly values (gaps where unknown)."""
    rows = series[series["metric"] == metric]
    fig = go.Figure(layout={**_LAYOUT, "height": 240, "showlegend": False})
    fig.add_scatter(
        x=[d.isoformat() for d in rows["period_end"]],
        y=[None if pd.isna(v) else float(v) for v in rows["value"]],
        mode="lines+markers",
        name=_label(metric),
        connectgaps=False,
    )
    fig.update_layout(title={"text": _label(title), "font": {"size": 14}})
    fig.update_xaxes(type="date", gridcolor="#ddd")
    fig.update_yaxes(rangemode="tozero", gridcolor="#ddd")
    return fig
