"""Scoring: metric values and survey answers -> verdicts, levels, evidence and next steps.

Pure and deterministic: no store, no clock. A criterion is met, unmet or unknown; a team reaches
level L of a dimension when every criterion of L and of every level below is met (Base needs
nothing); the score is the level plus the share of the next level's criteria met; coverage is
the share of the dimension's criteria that had data. The evidence shape is documented in
``docs/scoring.md``; pages and reports present it as it is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

from maturity import metrics as metrics_mod
from maturity.model import LEVELS, OPERATORS, Criterion, Model

MET, UNMET, UNKNOWN = 1, 0, -1
VERDICTS = {MET: "met", UNMET: "unmet", UNKNOWN: "unknown"}

#: survey aggregates: a frame (team_id, criterion_id, mean, n[, period_end]) or a mapping
#: {team_id or (team_id, period_end): {criterion_id: (mean, n)}}
SurveyInput: TypeAlias = pd.DataFrame | Mapping[Any, Mapping[str, tuple[float, int]]] | None


def survey_frame(survey: SurveyInput) -> pd.DataFrame:
    """Normalise survey aggregates into a frame: team_id, period_end (or NaT), criterion_id,
    mean, n. A row without period_end applies to every period."""
    cols = ["team_id", "period_end", "criterion_id", "mean", "n"]
    if survey is None:
        return pd.DataFrame(columns=cols)
    if isinstance(survey, pd.DataFrame):
        frame = survey.copy()
        if "period_end" not in frame:
            frame["period_end"] = None
        return frame[cols]
    rows = []
    for key, answers in survey.items():
        team, period = key if isinstance(key, tuple) else (key, None)
        for cid, (mean, n) in answers.items():
            rows.append((team, period, cid, mean, n))
    return pd.DataFrame(rows, columns=cols)


def score(
    model: Model,
    metric_values: pd.DataFrame,
    *,
    survey: SurveyInput = None,
    window_days: int = 90,
) -> pd.DataFrame:
    """Score every (team, period end) of ``metric_values`` in every dimension of ``model``.

    Args:
        model: the maturity model.
        metric_values: long frame from :func:`maturity.metrics.compute` (team_id, period_end,
            metric, value, sample_size); NaN values are unknown.
        survey: optional survey aggregates (see :func:`survey_frame`); without them survey
            criteria are unknown and a criterion that is both is decided by its metric.
        window_days: the metrics' window, recorded in the evidence.

    Returns:
        One row per team, dimension and period end: team_id, dimension, period_end, level,
        score, coverage, evidence (a JSON-ready dict).
    """
    values = metric_values.pivot_table(
        index=["team_id", "period_end"],
        columns="metric",
        values="value",
        aggfunc="first",
        dropna=False,
    )
    samples = metric_values.pivot_table(
        index=["team_id", "period_end"],
        columns="metric",
        values="sample_size",
        aggfunc="first",
        dropna=False,
    )
    index = values.index
    n = len(index)
    survey_means, survey_ns = _survey_matrix(model, survey_frame(survey), index)
    verdicts: dict[str, np.ndarray] = {}
    parts: dict[str, tuple[np.ndarray | None, np.ndarray | None]] = {}
    for _, _, crit in model.criteria():
        m = _metric_verdict(crit, values, n)
        s = _survey_verdict(crit, survey_means.get(crit.id), n)
        parts[crit.id] = (m, s)
        verdicts[crit.id] = combine(m, s)
    out = []
    team_ids = index.get_level_values(0).to_numpy()
    periods = index.get_level_values(1).to_numpy()
    for dim in model.dimensions:
        levels = [lv for lv in dim.levels if lv.number > 0]
        reached = np.zeros(n, dtype=np.int64)
        still = np.ones(n, dtype=bool)
        for lv in levels:
            all_met = np.ones(n, dtype=bool)
            for c in lv.criteria:
                all_met &= verdicts[c.id] == MET
            still &= all_met
            reached += still
        frac = np.zeros(n)
        for i, lv in enumerate(levels):
            at = reached == i
            if lv.criteria and at.any():
                met = sum((verdicts[c.id] == MET).astype(float) for c in lv.criteria)
                frac[at] = (np.asarray(met) / len(lv.criteria))[at]
        all_crit = [c for lv in levels for c in lv.criteria]
        known = sum((verdicts[c.id] != UNKNOWN).astype(float) for c in all_crit)
        coverage = np.asarray(known) / len(all_crit) if all_crit else np.ones(n)
        score_ = reached + frac
        for row in range(n):
            out.append(
                {
                    "team_id": int(team_ids[row]),
                    "dimension": dim.id,
                    "period_end": periods[row],
                    "level": int(reached[row]),
                    "score": round(float(score_[row]), 4),
                    "coverage": round(float(coverage[row]), 4),
                    "evidence": _evidence(
                        model,
                        dim.id,
                        row,
                        int(reached[row]),
                        float(score_[row]),
                        float(coverage[row]),
                        periods[row],
                        window_days,
                        values,
                        samples,
                        survey_means,
                        survey_ns,
                        verdicts,
                        parts,
                    ),
                }
            )
    return pd.DataFrame(
        out,
        columns=["team_id", "dimension", "period_end", "level", "score", "coverage", "evidence"],
    )


def combine(metric: np.ndarray | None, survey: np.ndarray | None) -> np.ndarray:
    """One verdict from a metric verdict and a survey verdict (either may be absent).

    Both known: met only if both are met. One unknown: the other decides. Both unknown: unknown.
    """
    if metric is None:
        assert survey is not None
        return survey
    if survey is None:
        return metric
    out = np.where(
        metric == UNKNOWN, survey, np.where(survey == UNKNOWN, metric, np.minimum(metric, survey))
    )
    return out.astype(np.int8)


def _metric_verdict(crit: Criterion, values: pd.DataFrame, n: int) -> np.ndarray | None:
    if crit.metric is None:
        return None
    if crit.metric.metric not in values:
        return np.full(n, UNKNOWN, dtype=np.int8)
    v = values[crit.metric.metric].to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore"):
        met = OPERATORS[crit.metric.op](v, crit.metric.threshold)
    return np.where(np.isnan(v), UNKNOWN, np.where(met, MET, UNMET)).astype(np.int8)


def _survey_verdict(crit: Criterion, means: np.ndarray | None, n: int) -> np.ndarray | None:
    if crit.survey is None:
        return None
    if means is None:
        return np.full(n, UNKNOWN, dtype=np.int8)
    return np.where(
        np.isnan(means), UNKNOWN, np.where(means >= crit.survey.min_mean, MET, UNMET)
    ).astype(np.int8)


def _survey_matrix(
    model: Model, survey: pd.DataFrame, index: pd.MultiIndex
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    means: dict[str, np.ndarray] = {}
    ns: dict[str, np.ndarray] = {}
    if survey.empty:
        return means, ns
    keys = pd.DataFrame(
        {"team_id": index.get_level_values(0), "period_end": index.get_level_values(1)}
    )
    for cid, rows in survey.groupby("criterion_id"):
        dated = rows[rows["period_end"].notna()]
        undated = rows[rows["period_end"].isna()].drop_duplicates("team_id", keep="last")
        mean = keys.merge(undated[["team_id", "mean", "n"]], on="team_id", how="left")
        if len(dated):
            exact = keys.merge(
                dated[["team_id", "period_end", "mean", "n"]],
                on=["team_id", "period_end"],
                how="left",
            )
            mean["mean"] = exact["mean"].combine_first(mean["mean"])
            mean["n"] = exact["n"].combine_first(mean["n"])
        m = pd.to_numeric(mean["mean"]).to_numpy(dtype=np.float64)
        c = pd.to_numeric(mean["n"]).fillna(0).to_numpy(dtype=np.float64)
        m = np.where(c > 0, m, np.nan)
        means[str(cid)] = m
        ns[str(cid)] = c
    return means, ns


def _num(value: float) -> float | None:
    if value is None or value != value:
        return None
    return round(float(value), 4)


def _evidence(
    model: Model,
    dim_id: str,
    row: int,
    level: int,
    score_: float,
    coverage: float,
    period_end: Any,
    window_days: int,
    values: pd.DataFrame,
    samples: pd.DataFrame,
    survey_means: dict[str, np.ndarray],
    survey_ns: dict[str, np.ndarray],
    verdicts: dict[str, np.ndarray],
    parts: dict[str, tuple[Any, Any]],
) -> dict[str, Any]:
    dim = model.dimension(dim_id)
    end = period_end if isinstance(period_end, dt.date) else pd.Timestamp(period_end).date()
    criteria = []
    next_steps = []
    for lv in dim.levels:
        for crit in lv.criteria:
            verdict = VERDICTS[int(verdicts[crit.id][row])]
            m_part, s_part = parts[crit.id]
            item: dict[str, Any] = {"id": crit.id, "level": lv.number, "verdict": verdict}
            if crit.metric is not None:
                name = crit.metric.metric
                value = values[name].iat[row] if name in values else np.nan
                info = metrics_mod.CATALOGUE[name]
                item["metric"] = {
                    "name": name,
                    "value": _num(value),
                    "op": crit.metric.op,
                    "threshold": crit.metric.threshold,
                    "unit": info.unit,
                    "sample_size": int(np.nan_to_num(samples[name].iat[row]))
                    if name in samples
                    else 0,
                    "verdict": VERDICTS[int(m_part[row])],
                    "records": {"tables": list(info.sources), "where": info.records},
                }
            if crit.survey is not None:
                mean = survey_means.get(crit.id)
                resp = survey_ns.get(crit.id)
                item["survey"] = {
                    "question": crit.survey.question,
                    "mean": _num(mean[row]) if mean is not None else None,
                    "responses": int(resp[row]) if resp is not None else 0,
                    "min_mean": crit.survey.min_mean,
                    "verdict": VERDICTS[int(s_part[row])],
                }
            criteria.append(item)
            if lv.number == level + 1 and verdict != "met":
                next_steps.append(
                    {
                        "id": crit.id,
                        "level": lv.number,
                        "level_name": lv.name,
                        "verdict": verdict,
                        "text": next_step_text(crit, item),
                    }
                )
    return {
        "dimension": dim_id,
        "period_start": (end - dt.timedelta(days=window_days - 1)).isoformat(),
        "period_end": end.isoformat(),
        "window_days": window_days,
        "level": level,
        "level_name": LEVELS[level],
        "score": round(score_, 4),
        "coverage": round(coverage, 4),
        "model_version": model.version,
        "criteria": criteria,
        "next_steps": next_steps,
    }


def next_step_text(crit: Criterion, item: Mapping[str, Any]) -> str:
    """A criterion that is not met, in plain words: what it asks and where the team stands."""
    text = crit.description
    metric = item.get("metric")
    survey = item.get("survey")
    notes = []
    if metric is not None:
        if metric["value"] is None:
            notes.append(f"no data yet for {metric['name']}")
        elif metric["verdict"] == "unmet":
            notes.append(
                f"now {metric['value']:g} {metric['unit']}, needs {metric['op']} "
                f"{metric['threshold']:g}"
            )
    if survey is not None:
        if survey["mean"] is None:
            notes.append("ask the team in a survey")
        elif survey["verdict"] == "unmet":
            notes.append(f"survey mean {survey['mean']:g} of 5, needs {survey['min_mean']:g}")
    return f"{text} ({'; '.join(notes)})" if notes else text
