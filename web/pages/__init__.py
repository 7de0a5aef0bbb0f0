"""Server-rendered pages: Jinja2 templates (autoescaped, ``web.templating``) over the same read
functions as the API.

``web.templating.NAV`` lists the pages in the navigation; a new page (the overview heat map, a
team's page, a dimension across teams, the model, surveys, reports) is one module here, one
template and one entry in ``NAV``.
"""

from __future__ import annotations

from fastapi import APIRouter

from web.pages import auth, collection, dashboards, environments, home
from web.surveys import form as survey_form
from web.surveys import team as survey_team


def router() -> APIRouter:
    """All pages in one router."""
    pages = APIRouter(include_in_schema=False)
    for module in (dashboards, home, collection, environments, auth, survey_form, survey_team):
        pages.include_router(module.router)
    return pages
