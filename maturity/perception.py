"""Perception gaps: where a survey answer and the collected data of the same cell disagree."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from maturity.store import scores

_KNOWN = ("met", "unmet")


@dataclass(frozen=True)
class Gap:
    """The team believes one thing (survey mean against its threshold), the data shows another."""

    dimension: str
    level: int
    week: dt.date
    survey_criterion: str
    belief: str  # "met" when the mean reaches the threshold, else "unmet"
    mean: float
    min_mean: float
    responses: int
    metric_criterion: str
    metric: str
    value: float
    op: str
    threshold: float
    data: str  # the metric's verdict, the opposite of ``belief``

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "week": self.week.isoformat()}


def gaps_from_evidence(evidence: dict[str, Any], week: dt.date) -> list[Gap]:
    """The gaps of one snapshot: every (survey part, metric part) pair of one level that disagree.

    A criterion that is both survey and metric is paired with itself, since it is its own cell.
    """
    criteria = evidence.get("criteria") or []
    found = []
    for s in criteria:
        survey = s.get("survey")
        if not survey or survey.get("verdict") not in _KNOWN or survey.get("mean") is None:
            continue
        for m in criteria:
            metric = m.get("metric")
            if m.get("level") != s.get("level") or not metric:
                continue
            if metric.get("verdict") not in _KNOWN or metric.get("value") is None:
                continue
            if metric["verdict"] == survey["verdict"]:
                continue
            found.append(
                Gap(
                    dimension=str(evidence.get("dimension")),
                    level=int(s["level"]),
                    week=week,
                    survey_criterion=str(s["id"]),
                    belief=str(survey["verdict"]),
                    mean=float(survey["mean"]),
                    min_mean=float(survey["min_mean"]),
                    responses=int(survey.get("responses") or 0),
                    metric_criterion=str(m["id"]),
                    metric=str(metric["name"]),
                    value=float(metric["value"]),
                    op=str(metric.get("op", ">=")),
                    threshold=float(metric["threshold"]),
                    data=str(metric["verdict"]),
                )
            )
    return found


def team_gaps(session: Session, team_id: int) -> list[Gap]:
    """The perception gaps in the team's latest snapshot of every dimension."""
    latest = scores.latest_snapshots(session, team_id=team_id)
    gaps: list[Gap] = []
    if latest.empty or "evidence" not in latest:
        return gaps
    for row in latest.itertuples(index=False):
        week = row.period_end
        if isinstance(week, dt.datetime):
            week = week.date()
        gaps += gaps_from_evidence(row.evidence, week)
    return gaps
