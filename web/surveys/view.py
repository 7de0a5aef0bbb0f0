"""What the survey pages and API show of rounds: k-gated results, per dimension, and gaps."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from maturity import perception, surveys


@dataclass(frozen=True)
class RoundView:
    """A round with its results only when it reached k (``results`` is None below k).

    ``held`` counts the answers this server holds for the round, not yet written: a count
    only, which tells nothing of what they say.
    """

    summary: surveys.RoundSummary
    results: surveys.RoundResults | None
    by_dimension: dict[str, float | None] = field(default_factory=dict)
    held: int = 0

    def as_dict(self) -> dict[str, Any]:
        s = self.summary
        out: dict[str, Any] = {
            "id": s.public_id,
            "team": s.team,
            "opened_on": s.opened_on.isoformat(),
            "closes_on": s.closes_on.isoformat() if s.closes_on else None,
            "open": s.open,
            "responses": s.responses,
            "k": s.k,
            "needed": s.needed,
            "held": self.held,
            "visible": self.results is not None,
        }
        if self.results is not None:
            out["by_dimension"] = self.by_dimension
            out["questions"] = [
                {
                    **q.question.as_dict(),
                    "hidden": q.hidden,
                    "mean": q.mean,
                    "answered": q.answered,
                    "dont_know": q.dont_know,
                    "counts": (
                        {str(k): v for k, v in q.counts.items()} if q.counts is not None else None
                    ),
                }
                for q in self.results.questions
            ]
            out["comments"] = list(self.results.comments)
        return out


def group_of(question: surveys.Question) -> str:
    """The row a question's mean joins: its dimension, or its CAMS pillar."""
    if question.cams:
        return f"CAMS: {question.cams}"
    return question.dimension or "other"


def _by_dimension(result: surveys.RoundResults) -> dict[str, float | None]:
    groups: dict[str, list[float]] = {}
    for q in result.questions:
        bucket = groups.setdefault(group_of(q.question), [])
        if q.mean is not None:
            bucket.append(q.mean)
    return {g: (sum(v) / len(v) if v else None) for g, v in groups.items()}


def team_rounds(
    session: Session,
    team_id: int,
    today: dt.date | None = None,
    held: Callable[[str], int] | None = None,
) -> list[RoundView]:
    """Every round of a team, newest first; results only for rounds with at least k responses.

    ``held`` tells how many answers the server holds for a round (none without it).
    """
    views = []
    for summary in surveys.list_rounds(session, team_id=team_id, today=today):
        result = surveys.results(session, summary.public_id)
        waiting = held(summary.public_id) if held is not None else 0
        if result.visible:
            views.append(RoundView(summary, result, _by_dimension(result), waiting))
        else:
            views.append(RoundView(summary, None, held=waiting))
    return views


def csv_rows(views: list[RoundView]) -> list[dict[str, Any]]:
    """One row per question of every round that reached k; rounds below k give no row, and a
    question with fewer than k ratings gives its text with no figure."""
    rows = []
    for view in views:
        if view.results is None:
            continue
        for q in view.results.questions:
            rows.append(
                {
                    "round": view.summary.public_id,
                    "opened_on": view.summary.opened_on,
                    "responses": view.summary.responses,
                    "question_id": q.question.id,
                    "group": group_of(q.question),
                    "criterion_id": q.question.criterion_id,
                    "question": q.question.text,
                    "hidden": "fewer than k ratings" if q.hidden else "",
                    "mean": round(q.mean, 4) if q.mean is not None else None,
                    **{f"n_{s}": q.counts[s] if q.counts else None for s in surveys.SCALE},
                    "dont_know": q.dont_know,
                }
            )
    return rows


CSV_COLUMNS = [
    "round",
    "opened_on",
    "responses",
    "question_id",
    "group",
    "criterion_id",
    "question",
    "hidden",
    "mean",
    *(f"n_{s}" for s in surveys.SCALE),
    "dont_know",
]


def gaps(session: Session, team_id: int) -> list[perception.Gap]:
    """The team's perception gaps (from snapshots, which take survey answers only at k)."""
    return perception.team_gaps(session, team_id)
