"""The one path to a retrospective report's numbers: stored snapshots, metric values, surveys.

Nothing is recomputed here. Levels, scores, evidence and metric values come from the stored
snapshots and metric values of the week at the period's start ("then") and at its end ("now");
the DORA "previous period" is the period of the same length before, whose end is the week at
the start. Survey results come through :func:`maturity.surveys.results` and so stay k-gated.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy.orm import Session

from maturity import display, metrics, surveys
from maturity.config import Config
from maturity.model import LEVELS, Criterion, Model
from maturity.snapshots import week_end
from maturity.store import scores

#: the default period when no report was generated for the team before
DEFAULT_DAYS = 28
#: a source whose newest record is older than this (days before the week end) is stale
STALE_DAYS = 14
#: values resting on fewer records than this are flagged as low volume
LOW_SAMPLE = 5

SOURCE_LABELS = {
    "freshness_git_days": "git",
    "freshness_ci_days": "CI",
    "freshness_deploy_days": "deployments",
    "freshness_tracker_days": "issue tracker",
}


class ReportError(Exception):
    """A report cannot be built as asked (unknown team, bad period); the message says why."""


@dataclass(frozen=True)
class CriterionChange:
    id: str
    level: int
    level_name: str
    description: str
    evidence: str


@dataclass(frozen=True)
class DimensionChange:
    id: str
    name: str
    level_then: int | None
    level_now: int
    score_then: float | None
    score_now: float
    coverage_now: float
    newly_met: tuple[CriterionChange, ...]
    newly_lost: tuple[CriterionChange, ...]
    coverage_then: float | None = None

    @property
    def has_data(self) -> bool:
        return self.coverage_now > 0

    @property
    def had_data(self) -> bool:
        return self.level_then is not None and (self.coverage_then or 0) > 0

    @property
    def level_then_name(self) -> str:
        if self.level_then is None:
            return "not scored"
        return display.level_name(self.level_then, self.coverage_then)

    @property
    def level_now_name(self) -> str:
        return display.level_name(self.level_now, self.coverage_now)

    @property
    def shown_score_then(self) -> float | None:
        """The score then, or None where that week had no data (shown as such, not 0.00)."""
        return self.score_then if self.had_data else None

    @property
    def shown_score_now(self) -> float | None:
        return self.score_now if self.has_data else None

    @property
    def heading(self) -> str:
        """How the level moved, for the section of its newly met and lost criteria."""
        if self.level_then_name == self.level_now_name:
            return f"{self.name}: still {self.level_now_name}"
        return f"{self.name}: {self.level_then_name} to {self.level_now_name}"

    @property
    def score_change(self) -> float | None:
        if not (self.has_data and self.had_data) or self.score_then is None:
            return None
        return round(self.score_now - self.score_then, 4)


@dataclass(frozen=True)
class DoraKey:
    metric: str
    label: str
    unit: str
    now: float | None
    previous: float | None
    sample_size: int | None
    tier: str
    previous_tier: str

    @property
    def change(self) -> float | None:
        if self.now is None or self.previous is None:
            return None
        return self.now - self.previous


@dataclass(frozen=True)
class SurveyQuestion:
    """One statement's mean; ``answered`` is None (and the mean too) when fewer than k people
    rated it, which a report shows as hidden."""

    text: str
    criterion_id: str | None
    mean: float | None
    answered: int | None


@dataclass(frozen=True)
class SurveyRound:
    opened_on: dt.date
    responses: int
    questions: tuple[SurveyQuestion, ...]
    k: int


@dataclass(frozen=True)
class PerceptionGap:
    criterion_id: str
    description: str
    data_says: str
    engineers_say: str


@dataclass(frozen=True)
class NextStep:
    dimension: str
    id: str
    level_name: str
    what: str
    why: str
    measure: str


@dataclass(frozen=True)
class Report:
    """Everything a report shows, in the order it shows it."""

    team: str
    slug: str
    start: dt.date
    end: dt.date
    week_then: dt.date | None
    week_now: dt.date | None
    model_version: str | None
    has_data: bool
    summary: tuple[str, ...]
    dimensions: tuple[DimensionChange, ...]
    dora: tuple[DoraKey, ...]
    surveys: tuple[SurveyRound, ...]
    gaps: tuple[PerceptionGap, ...]
    next_steps: tuple[NextStep, ...]
    caveats: tuple[str, ...]
    #: the snapshots behind the level trend chart (``scores.list_snapshots``)
    level_history: pd.DataFrame = field(compare=False, repr=False)
    #: the DORA series behind the trend charts (``scores.metric_series``)
    dora_history: pd.DataFrame = field(compare=False, repr=False)


# --- the period --------------------------------------------------------------------------


#: the dates a report may cover; beyond them date arithmetic overflows (0001-01-01 minus a week)
EARLIEST = dt.date(1970, 1, 1)
LATEST = dt.date(2099, 12, 31)


def check_dates(*dates: dt.date | None) -> None:
    """Refuse a date outside [1970-01-01, 2099-12-31] with one clear sentence."""
    for day in dates:
        if day is not None and not EARLIEST <= day <= LATEST:
            raise ReportError(
                f"{day} is outside the dates a report covers ({EARLIEST} to {LATEST})"
            )


def default_period(
    session: Session, *, team_id: int, today: dt.date, start: dt.date | None, end: dt.date | None
) -> tuple[dt.date, dt.date]:
    """The period asked for, else the time since the previous report, else the last 4 weeks."""
    check_dates(start, end)
    end = end or today
    if start is None:
        last = scores.last_report_end(session, team_id=team_id)
        start = last if last is not None and last < end else end - dt.timedelta(DEFAULT_DAYS)
    if start > end:
        raise ReportError(f"the period starts ({start}) after it ends ({end})")
    return start, end


def find_team(session: Session, team: str) -> tuple[int, str, str]:
    """(id, name, slug) of the team named (or slugged) ``team``, case-insensitively."""
    names = scores.team_names(session)
    hit = names[
        (names["name"].str.casefold() == team.casefold())
        | (names["slug"].str.casefold() == team.casefold())
    ]
    if hit.empty:
        known = ", ".join(names["name"]) or "none: run 'maturity collect'"
        raise ReportError(f"no team named {team!r} (teams: {known})")
    row = hit.iloc[0]
    return int(row["team_id"]), str(row["name"]), str(row["slug"])


# --- formatting helpers shared by every format -------------------------------------------


#: a metric value in its unit, as every page and the CLI show it
fmt_value = display.value
#: a change of a metric value (percentage points for shares)
fmt_change = display.change


def _evidence_text(item: dict[str, Any]) -> str:
    parts = []
    m = item.get("metric")
    if m:
        if m.get("value") is None:
            parts.append(f"{m['name']}: no data")
        else:
            unit = m.get("unit") or _unit(m["name"])
            parts.append(
                f"{m['name']} = {fmt_value(m['value'], unit)} (needs {m['op']} "
                f"{fmt_value(m['threshold'], unit)}, {_records(m.get('sample_size') or 0)})"
            )
    s = item.get("survey")
    if s:
        if s.get("mean") is None:
            parts.append("survey: no answers")
        else:
            parts.append(
                f"survey mean {s['mean']:.1f} of 5 (needs {s['min_mean']:g}, "
                f"{s.get('responses') or 0} answers)"
            )
    return "; ".join(parts) or "no evidence recorded"


def _records(n: int) -> str:
    return "1 record" if n == 1 else f"{n} records"


def _unit(metric: str) -> str:
    return metrics.CATALOGUE[metric].unit if metric in metrics.CATALOGUE else ""


# --- building ----------------------------------------------------------------------------


def build_report(
    session: Session,
    config: Config,
    model: Model,
    *,
    team: str,
    start: dt.date,
    end: dt.date,
) -> Report:
    """Build the report of ``team`` for ``[start, end]`` from what the store holds."""
    check_dates(start, end)
    if start > end:
        raise ReportError(f"the period starts ({start}) after it ends ({end})")
    team_id, name, slug = find_team(session, team)
    length = end - start
    last_week = week_end(end)
    history_from = start - length - dt.timedelta(7)
    snaps = scores.list_snapshots(session, team_id=team_id, since=history_from, until=last_week)
    in_period = snaps[(snaps["period_end"] >= start) & (snaps["period_end"] <= last_week)]
    series = scores.metric_series(session, team_id=team_id, since=history_from, until=last_week)
    dora_history = series[series["metric"].isin(metrics.DORA_TILES)].reset_index(drop=True)
    survey_rounds, hidden_rounds = _surveys(session, team_id, end)

    if in_period.empty:
        return Report(
            team=name,
            slug=slug,
            start=start,
            end=end,
            week_then=None,
            week_now=None,
            model_version=None,
            has_data=False,
            summary=(
                f"No maturity data exists for {name} between {start} and {end}: no week in "
                "this period has been scored.",
            ),
            dimensions=(),
            dora=(),
            surveys=survey_rounds,
            gaps=(),
            next_steps=(),
            caveats=(
                "No snapshots for this period: run 'maturity collect' and then "
                f"'maturity score --backfill {max(4, math.ceil((length.days + 7) / 7))}' "
                "to score the weeks it covers.",
                *_hidden_caveat(hidden_rounds),
            ),
            level_history=snaps,
            dora_history=dora_history,
        )

    week_now = max(in_period["period_end"])
    before = snaps[snaps["period_end"] <= start]
    week_then = max(before["period_end"]) if not before.empty else min(in_period["period_end"])
    caveats: list[str] = []
    if before.empty:
        caveats.append(
            f"No week before {start} was scored: 'then' is the first scored week, {week_then}."
        )
    now = snaps[snaps["period_end"] == week_now].set_index("dimension")
    then = snaps[snaps["period_end"] == week_then].set_index("dimension")
    criteria = {c.id: (lv, c) for _, lv, c in model.criteria()}

    dims = []
    known = [d.id for d in model.dimensions]
    order = known + [d for d in now.index if d not in known]
    for dim_id in [d for d in order if d in now.index]:
        dims.append(
            _dimension(model, dim_id, now.loc[dim_id], then, criteria, week_then == week_now)
        )

    dora = _dora(series, week_now, week_then)
    gaps = _gaps(now, survey_rounds, criteria)
    steps = _next_steps(model, now, criteria)
    caveats += _caveats(series, week_now, now, dora, criteria)
    caveats += _hidden_caveat(hidden_rounds)
    version = str(now["model_version"].iloc[0])
    if version != model.version:
        caveats.append(
            f"The snapshots were scored with model {version}, not the current {model.version}: "
            "criterion texts come from the current model."
        )
    return Report(
        team=name,
        slug=slug,
        start=start,
        end=end,
        week_then=week_then,
        week_now=week_now,
        model_version=version,
        has_data=True,
        summary=_summary(name, dims, dora, week_then, week_now),
        dimensions=tuple(dims),
        dora=dora,
        surveys=survey_rounds,
        gaps=gaps,
        next_steps=steps,
        caveats=tuple(caveats),
        level_history=snaps,
        dora_history=dora_history,
    )


def _dimension(
    model: Model,
    dim_id: str,
    row: pd.Series,
    then: pd.DataFrame,
    criteria: dict[str, tuple[Any, Criterion]],
    same_week: bool,
) -> DimensionChange:
    try:
        dim_name = model.dimension(dim_id).name
    except KeyError:
        dim_name = dim_id
    now_items = {c["id"]: c for c in row["evidence"].get("criteria", [])}
    has_then = dim_id in then.index and not same_week
    then_items = (
        {c["id"]: c for c in then.loc[dim_id]["evidence"].get("criteria", [])} if has_then else {}
    )

    def change(cid: str, item: dict[str, Any]) -> CriterionChange:
        lv, crit = criteria.get(cid, (None, None))
        level = int(item.get("level", lv.number if lv else 0))
        return CriterionChange(
            id=cid,
            level=level,
            level_name=LEVELS[level],
            description=crit.description if crit else cid,
            evidence=_evidence_text(item),
        )

    met = [
        change(cid, item)
        for cid, item in now_items.items()
        if item["verdict"] == "met" and then_items.get(cid, {}).get("verdict") != "met" and has_then
    ]
    lost = [
        change(cid, item)
        for cid, item in now_items.items()
        if item["verdict"] != "met" and then_items.get(cid, {}).get("verdict") == "met"
    ]
    return DimensionChange(
        id=dim_id,
        name=dim_name,
        level_then=int(then.loc[dim_id]["level"]) if dim_id in then.index else None,
        level_now=int(row["level"]),
        score_then=round(float(then.loc[dim_id]["score"]), 4) if dim_id in then.index else None,
        score_now=round(float(row["score"]), 4),
        coverage_now=float(row["coverage"]),
        coverage_then=float(then.loc[dim_id]["coverage"]) if dim_id in then.index else None,
        newly_met=tuple(met),
        newly_lost=tuple(lost),
    )


def _value_at(series: pd.DataFrame, metric: str, week: dt.date) -> tuple[float | None, int | None]:
    rows = series[(series["metric"] == metric) & (series["period_end"] == week)]
    if rows.empty:
        return None, None
    value = rows["value"].iloc[0]
    n = rows["sample_size"].iloc[0]
    return (
        None if value is None or pd.isna(value) else float(value),
        None if n is None or pd.isna(n) else int(n),
    )


def _dora(series: pd.DataFrame, week_now: dt.date, week_then: dt.date) -> tuple[DoraKey, ...]:
    keys = []
    for key in metrics.DORA_TILES:
        label, unit = display.DORA_LABELS[key], _unit(key)
        now, n = _value_at(series, key, week_now)
        prev, _ = _value_at(series, key, week_then) if week_then != week_now else (None, None)
        keys.append(
            DoraKey(
                metric=key,
                label=label,
                unit=unit,
                now=now,
                previous=prev,
                sample_size=n,
                tier=metrics.tier(key, now),
                previous_tier=metrics.tier(key, prev),
            )
        )
    return tuple(keys)


def _surveys(session: Session, team_id: int, end: dt.date) -> tuple[tuple[SurveyRound, ...], int]:
    shown, hidden = [], 0
    for public_id, _opened in scores.list_survey_rounds(session, team_id=team_id, until=end):
        result = surveys.results(session, public_id)
        if not result.visible:
            hidden += 1
            continue
        shown.append(
            SurveyRound(
                opened_on=result.opened_on,
                responses=result.responses,
                questions=tuple(
                    SurveyQuestion(
                        text=q.question.text,
                        criterion_id=q.question.criterion_id,
                        mean=q.mean,
                        answered=q.answered,
                    )
                    for q in result.questions
                ),
                k=result.k,
            )
        )
    return tuple(shown), hidden


def _hidden_caveat(hidden: int) -> list[str]:
    if not hidden:
        return []
    return [
        f"{hidden} survey round(s) did not reach the minimum number of responses and are not "
        "shown (anonymity)."
    ]


def _gaps(
    now: pd.DataFrame,
    rounds: tuple[SurveyRound, ...],
    criteria: dict[str, tuple[Any, Criterion]],
) -> tuple[PerceptionGap, ...]:
    """Where the stored metric verdict and the engineers' latest answers disagree."""
    if not rounds:
        return ()
    metric_items = {
        c["id"]: c
        for ev in now["evidence"]
        for c in ev.get("criteria", [])
        if c.get("metric") and c["metric"].get("verdict") in ("met", "unmet")
    }
    gaps = []
    latest = rounds[-1]
    for q in latest.questions:
        cid = q.criterion_id
        if cid is None or q.mean is None or q.answered is None:
            continue  # hidden: fewer than k ratings
        if cid not in metric_items or cid not in criteria:
            continue
        crit = criteria[cid][1]
        if crit.survey is None:
            continue
        survey_met = q.mean >= crit.survey.min_mean
        m = metric_items[cid]["metric"]
        if survey_met == (m["verdict"] == "met"):
            continue
        gaps.append(
            PerceptionGap(
                criterion_id=cid,
                description=crit.description,
                data_says=f"{m['verdict']}: {m['name']} = "
                f"{fmt_value(m['value'], m.get('unit') or _unit(m['name']))} (needs {m['op']} "
                f"{fmt_value(m['threshold'], m.get('unit') or _unit(m['name']))})",
                engineers_say=f"{'met' if survey_met else 'unmet'}: mean {q.mean:.1f} of 5 "
                f"(needs {crit.survey.min_mean:g}, {q.answered} answers, round of "
                f"{latest.opened_on})",
            )
        )
    return tuple(gaps)


def _promise(item: dict[str, Any]) -> float:
    """How close an unmet step is: the relative distance of its metric to the threshold."""
    m = item.get("metric")
    if m and m.get("value") is not None and m.get("threshold"):
        return abs(m["threshold"] - m["value"]) / max(abs(m["threshold"]), 1e-9)
    if m and m.get("value") is not None:
        return abs(m["value"])
    return math.inf  # unknown: first collect the data; ranked after steps with a known gap


def _next_steps(
    model: Model, now: pd.DataFrame, criteria: dict[str, tuple[Any, Criterion]]
) -> tuple[NextStep, ...]:
    candidates = []
    for dim_id, row in now.iterrows():
        items = {c["id"]: c for c in row["evidence"].get("criteria", [])}
        for step in row["evidence"].get("next_steps", []):
            item = items.get(step["id"], {})
            candidates.append((_promise(item), str(dim_id), step, item))
    candidates.sort(key=lambda c: c[0])
    steps = []
    for _, dim_id, step, item in candidates[:3]:
        crit = criteria.get(step["id"], (None, None))[1]
        try:
            dim_name = model.dimension(dim_id).name
        except KeyError:
            dim_name = dim_id
        steps.append(
            NextStep(
                dimension=dim_name,
                id=step["id"],
                level_name=step.get("level_name", ""),
                what=step["text"],
                why=crit.rationale if crit else "",
                measure=_measure(crit, item),
            )
        )
    return tuple(steps)


def _measure(crit: Criterion | None, item: dict[str, Any]) -> str:
    parts = []
    m = item.get("metric")
    if m:
        cat = metrics.CATALOGUE.get(m["name"])
        unit = m.get("unit") or _unit(m["name"])
        now = "no data yet" if m.get("value") is None else f"now {fmt_value(m['value'], unit)}"
        desc = f" ({cat.description.rstrip('.')})" if cat else ""
        parts.append(
            f"weekly {m['name']}{desc}: target {m['op']} {fmt_value(m['threshold'], unit)}, {now}"
        )
    if crit and crit.survey:
        parts.append(
            f'survey question "{crit.survey.question}": target mean >= {crit.survey.min_mean:g}'
        )
    return "; ".join(parts)


def _caveats(
    series: pd.DataFrame,
    week_now: dt.date,
    now: pd.DataFrame,
    dora: tuple[DoraKey, ...],
    criteria: dict[str, tuple[Any, Criterion]],
) -> list[str]:
    out = []
    missing, stale = [], []
    for metric, label in SOURCE_LABELS.items():
        days, _ = _value_at(series, metric, week_now)
        if days is None:
            missing.append(label)
        elif days > STALE_DAYS:
            stale.append(f"{label} ({days:.0f} days old)")
    if missing:
        out.append(
            f"Sources without any data: {', '.join(missing)} (collect them, or send them with "
            "'maturity ingest': docs/events.md)."
        )
    if stale:
        out.append(f"Stale sources at the week ending {week_now}: {', '.join(stale)}.")
    unknown = [
        c["id"]
        for ev in now["evidence"]
        for c in ev.get("criteria", [])
        if c.get("verdict") == "unknown"
    ]
    total = sum(len(ev.get("criteria", [])) for ev in now["evidence"])
    if unknown:
        shown = ", ".join(unknown[:8]) + (" ..." if len(unknown) > 8 else "")
        out.append(f"{len(unknown)} of {total} criteria are unknown (no data): {shown}.")
    low = [
        f"{k.label} ({k.sample_size} records)"
        for k in dora
        if k.now is not None and k.sample_size is not None and k.sample_size < LOW_SAMPLE
    ]
    if low:
        out.append(f"Low data volume (fewer than {LOW_SAMPLE} records): {', '.join(low)}.")
    return out


def _summary(
    team: str,
    dims: list[DimensionChange],
    dora: tuple[DoraKey, ...],
    week_then: dt.date,
    week_now: dt.date,
) -> tuple[str, ...]:
    lines = []
    if week_then == week_now:
        lines.append(
            f"Only one week (ending {week_now}) is scored in this period, so nothing can be "
            "compared yet."
        )
    moved = [d for d in dims if d.had_data and d.has_data and d.level_then != d.level_now]
    for d in moved:
        verb = "rose" if d.level_now > (d.level_then or 0) else "fell"
        lines.append(
            f"{d.name} {verb}: it went from {d.level_then_name} to {d.level_now_name} "
            f"(score {d.score_then:.2f} to {d.score_now:.2f})."
        )
    for d in dims:
        if d.level_then is not None and d.had_data != d.has_data and week_then != week_now:
            lines.append(
                f"{d.name} has data now: {d.level_now_name} (score {d.score_now:.2f})."
                if d.has_data
                else f"{d.name} has no data any more (it was {d.level_then_name})."
            )
    if not any(d.has_data or d.had_data for d in dims):
        lines.append(
            f"No dimension of {team} had data in the weeks compared: none of the model's "
            "criteria could be checked (see the caveats for the sources missing)."
        )
        return tuple(lines)
    if not moved and week_then != week_now:
        levels = ", ".join(f"{d.name} {d.level_now_name}" for d in dims)
        lines.append(f"No dimension changed level between {week_then} and {week_now} ({levels}).")
    changes = [d for d in dims if d.score_change is not None]
    up = max(changes, key=lambda d: d.score_change or 0.0, default=None)
    down = min(changes, key=lambda d: d.score_change or 0.0, default=None)
    if up is not None and (up.score_change or 0) > 0:
        lines.append(
            f"The biggest improvement is {up.name}: score {up.score_then:.2f} to "
            f"{up.score_now:.2f} ({up.score_change:+.2f})."
        )
    elif week_then != week_now:
        lines.append("No dimension improved its score.")
    if down is not None and (down.score_change or 0) < 0:
        lines.append(
            f"The biggest regression is {down.name}: score {down.score_then:.2f} to "
            f"{down.score_now:.2f} ({down.score_change:+.2f})."
        )
    elif week_then != week_now:
        lines.append("No dimension regressed.")
    tiers = [f"{k.label} {k.tier}" for k in dora if k.tier != "unknown"]
    if tiers:
        lines.append(f"DORA tiers for the week ending {week_now}: {', '.join(tiers)}.")
    return tuple(lines)
