"""Plotly figures of the pages, and how a page embeds one without inline script.

A page puts ``embed(fig)`` in a ``<script type="application/json" data-plotly-target=ID>``
block; ``static/charts.js`` reads every such block and draws it into the element ``ID``, with
plotly.js served from the installed plotly package. No figure is computed here: the numbers
come from ``maturity`` read functions.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import plotly.graph_objects as go
from markupsafe import Markup

from maturity.environments import WeekCount

_LAYOUT = {
    "margin": {"l": 48, "r": 16, "t": 16, "b": 48},
    "height": 320,
    "barmode": "stack",
    "legend": {"orientation": "h", "y": -0.2},
    "paper_bgcolor": "rgba(0,0,0,0)",
    "plot_bgcolor": "rgba(0,0,0,0)",
}


def label(text: str) -> str:
    """Text as plotly shows it literally: plotly reads a few HTML tags and entities in labels."""
    return html.escape(text, quote=False)


def embed(fig: go.Figure) -> Markup:
    """The figure as JSON that is safe inside a <script> element (no '</script>' can close it)."""
    text = fig.to_json()
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)  # noqa: S704 (escaped above for the script-element context)


def deployments_per_week(weeks: Sequence[WeekCount]) -> go.Figure:
    """Stacked bars: successful deployments per week, one colour per environment."""
    fig = go.Figure(layout=_LAYOUT)
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
