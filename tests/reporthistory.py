"""A team's scored history built by hand: snapshots and metric values in the stored format.

Evidence follows docs/scoring.md: every criterion of the dimension with its verdict and metric
or survey part, and next steps for the unmet criteria of the next level.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from maturity import metrics, scoring
from maturity.model import LEVELS, Model
from maturity.store import tables, write


def add_team(session: Session, name: str, slug: str) -> int:
    write.upsert(session, tables.Team, [{"name": name, "slug": slug}], ["name"])
    team_id = session.query(tables.Team.id).filter(tables.Team.name == name).scalar()
    assert team_id is not None
    return int(team_id)


def _metric_item(crit: Any, verdict: str) -> dict[str, Any]:
    check = crit.metric
    unit = metrics.CATALOGUE[check.metric].unit
    if verdict == "unknown":
        value = None
    elif verdict == "met":
        value = check.threshold if check.op in (">=", "<=", "==") else check.threshold + 1
    else:
        value = check.threshold - 0.1 if check.op in (">=", ">") else check.threshold + 1
    return {
        "name": check.metric,
        "value": value,
        "op": check.op,
        "threshold": check.threshold,
        "unit": unit,
        "sample_size": 0 if value is None else 12,
        "verdict": verdict,
        "records": {"tables": []},
    }


def evidence(
    model: Model, dimension: str, level: int, extra_met: int = 0, **verdicts: str
) -> tuple[dict[str, Any], float]:
    """Evidence of a dimension at ``level`` with ``extra_met`` criteria of the next level met.

    ``verdicts`` overrides single criteria (criterion id with dots replaced by underscores).
    Returns the evidence and its score.
    """
    dim = model.dimension(dimension)
    items, steps = [], []
    next_met = 0
    for lv, crit in dim.criteria():
        verdict = "met" if lv.number <= level else "unmet"
        if lv.number == level + 1 and next_met < extra_met:
            verdict, next_met = "met", next_met + 1
        verdict = verdicts.get(crit.id.replace(".", "_"), verdict)
        item: dict[str, Any] = {"id": crit.id, "level": lv.number, "verdict": verdict}
        if crit.metric is not None:
            item["metric"] = _metric_item(crit, verdict)
        if crit.survey is not None:
            item["survey"] = {
                "mean": None if verdict == "unknown" else (4.5 if verdict == "met" else 2.0),
                "responses": 0 if verdict == "unknown" else 6,
                "min_mean": crit.survey.min_mean,
                "verdict": verdict,
            }
        items.append(item)
        if lv.number == level + 1 and verdict != "met":
            steps.append(
                {
                    "id": crit.id,
                    "level": lv.number,
                    "level_name": lv.name,
                    "verdict": verdict,
                    "text": scoring.next_step_text(crit, item),
                }
            )
    following = [c for lv, c in dim.criteria() if lv.number == level + 1]
    score = level + (next_met / len(following) if following else 0.0)
    return {
        "dimension": dimension,
        "level": level,
        "level_name": LEVELS[level],
        "score": score,
        "criteria": items,
        "next_steps": steps,
    }, score


def add_week(
    session: Session,
    model: Model,
    team_id: int,
    week: dt.date,
    levels: dict[str, tuple[int, int]],
    values: dict[str, tuple[float | None, int]] | None = None,
    **verdicts: str,
) -> None:
    """Store the snapshots of one week: ``levels`` maps a dimension to (level, extra met)."""
    rows = []
    for dim in model.dimensions:
        level, extra = levels.get(dim.id, (1, 0))
        ev, score = evidence(model, dim.id, level, extra, **verdicts)
        known = sum(1 for c in ev["criteria"] if c["verdict"] != "unknown")
        rows.append(
            {
                "team_id": team_id,
                "dimension": dim.id,
                "period_end": week,
                "level": level,
                "score": round(score, 4),
                "coverage": known / len(ev["criteria"]),
                "evidence": ev,
                "model_version": model.version,
                "computed_at": dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
            }
        )
    write.upsert(session, tables.Snapshot, rows, ["team_id", "dimension", "period_end"])
    mv = [
        {
            "team_id": team_id,
            "metric": name,
            "period_end": week,
            "window_days": 90,
            "value": value,
            "sample_size": n,
        }
        for name, (value, n) in (values or {}).items()
    ]
    if mv:
        write.upsert(session, tables.MetricValue, mv, ["team_id", "metric", "period_end"])
