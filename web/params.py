"""Request parameters shared by the pages and the JSON API: one definition, one validation."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import HTTPException, Path, Query
from pydantic import BeforeValidator, StringConstraints
from sqlalchemy.orm import Session

from maturity import listings

#: the pattern of every text parameter: no NUL, which PostgreSQL refuses in text (a 500 otherwise)
PLAIN_TEXT = r"^[^\x00]*$"


def _blank_is_none(value: Any) -> Any:
    return None if value == "" else value


#: an optional filter left blank (a form's "all" choice sends ``?team=``) means no filter
BLANK_IS_NONE = BeforeValidator(_blank_is_none)

#: a source's name as a parameter (git, github, jenkins, jira, events)
SourceName = Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=PLAIN_TEXT)]
#: a team's URL name as a parameter
TeamName = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=PLAIN_TEXT)]

Since = Annotated[
    dt.date | None, BLANK_IS_NONE, Query(alias="from", description="First period end (a date).")
]
Until = Annotated[
    dt.date | None, BLANK_IS_NONE, Query(alias="to", description="Last period end (a date).")
]
Slug = Annotated[
    str, Path(min_length=1, max_length=200, pattern=PLAIN_TEXT, description="Team URL name.")
]
DimensionId = Annotated[
    str, Path(min_length=1, max_length=64, pattern=PLAIN_TEXT, description="Dimension id.")
]
TeamSlug = Annotated[
    TeamName | None,
    BLANK_IS_NONE,
    Query(description="Only this team (its URL name)."),
]
Source = Annotated[
    SourceName | None,
    BLANK_IS_NONE,
    Query(description="Only this source."),
]
Status = Annotated[
    Literal["running", "success", "partial", "failed", "interrupted"] | None,
    BLANK_IS_NONE,
    Query(description="Only runs with this status."),
]


def check_period(since: dt.date | None, until: dt.date | None) -> None:
    """422 when the period's start is after its end."""
    if since is not None and until is not None and since > until:
        raise HTTPException(422, "'from' must not be after 'to'")


def team_filter(session: Session, slug: str | None) -> int | None:
    """The id of the team named by ``?team=``, None for all teams; 404 for an unknown one."""
    if slug is None:
        return None
    team_id = listings.team_id_of(session, slug)
    if team_id is None:
        raise HTTPException(404, f"no team {slug!r}")
    return team_id
