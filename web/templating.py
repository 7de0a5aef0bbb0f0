"""The Jinja environment of every page: templates (autoescaped), filters, globals, ``render``.

A page puts ``embed(fig)`` (a figure of ``reports.charts``) in a ``<script
type="application/json" data-plotly-target=ID>`` block; ``static/charts.js`` reads every such
block and draws it into the element ``ID``, with plotly.js served from the installed plotly
package: no inline script.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import plotly.graph_objects as go
from fastapi import Request
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from starlette.responses import Response

from maturity import display

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"


@dataclass(frozen=True)
class NavItem:
    path: str
    label: str


NAV: tuple[NavItem, ...] = (
    NavItem("/overview", "Overview"),
    NavItem("/", "Home"),
    NavItem("/model", "Model"),
    NavItem("/environments", "Environments"),
    NavItem("/collection", "Collection"),
)


def _when(value: dt.datetime | dt.date | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return value.isoformat()


def _short_sha(value: str | None) -> str:
    return value[:10] if value else "—"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,  # every page shows text from sources: escape everything, always
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["short_sha"] = _short_sha
    # One formatter for every unit: the same text as the API's 'text', the CLI and the reports.
    env.filters["unit"] = display.value
    env.globals["dora_labels"] = display.DORA_LABELS
    env.globals["dora_heading"] = display.DORA_HEADING
    env.globals["dora_note"] = display.DORA_NOTE
    env.globals["nav"] = NAV
    return env


templates = Jinja2Templates(env=_environment())


def render(
    request: Request, name: str, context: dict[str, Any], *, status_code: int = 200
) -> Response:
    """Render a page with what every page needs (active navigation entry, login state)."""
    settings = request.app.state.settings
    base = {
        "active": request.url.path,
        "login_enabled": settings.viewer_token is not None,
    }
    return templates.TemplateResponse(request, name, {**base, **context}, status_code=status_code)


def embed(fig: go.Figure) -> Markup:
    """The figure as JSON that is safe inside a <script> element (no '</script>' can close it)."""
    text = fig.to_json()
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)  # noqa: S704 (escaped above for the script-element context)
