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

from maturity import display
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
    columns = _criterion_columns(model, values, samples, survey_means, survey_ns, verdicts, parts)
    team_list = [int(t) for t in index.get_level_values(0)]
    periods = [
        p if isinstance(p, dt.date) else pd.Timestamp(p).date() for p in index.get_level_values(1)
    ]
    starts = [(p - dt.timedelta(days=window_days - 1)).isoformat() for p in periods]
    ends = [p.isoformat() for p in periods]
    frames = []
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
        all_crit = [(lv, c) for lv in levels for c in lv.criteria]
        known = sum((verdicts[c.id] != UNKNOWN).astype(float) for _, c in all_crit)
        coverage = np.round(np.asarray(known) / len(all_crit) if all_crit else np.ones(n), 4)
        score_ = np.round(reached + frac, 4)
        evidence = []
        reached_l, score_l, cov_l = reached.tolist(), score_.tolist(), coverage.tolist()
        for row in range(n):
            level = reached_l[row]
            criteria = [columns[c.id](row) for _, c in all_crit]
            steps = [
                _step(lv, c, item)
                for (lv, c), item in zip(all_crit, criteria, strict=True)
                if lv.number == level + 1 and item["verdict"] != "met"
            ]
            evidence.append(
                {
                    "dimension": dim.id,
                    "period_start": starts[row],
                    "period_end": ends[row],
                    "window_days": window_days,
                    "level": level,
                    "level_name": LEVELS[level],
                    "score": score_l[row],
                    "coverage": cov_l[row],
                    "model_version": model.version,
                    "criteria": criteria,
                    "next_steps": steps,
                }
            )
        frames.append(
            pd.DataFrame(
                {
                    "team_id": team_list,
                    "dimension": dim.id,
                    "period_end": periods,
                    "level": reached,
                    "score": score_,
                    "coverage": coverage,
                    "evidence": evidence,
                }
            )
        )
    if not frames:
        return pd.DataFrame(
            columns=["team_id", "dimension", "period_end", "level", "score", "coverage", "evidence"]
        )
    return pd.concat(frames, ignore_index=True)


def _step(lv: Any, crit: Criterion, item: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": crit.id,
        "level": lv.number,
        "level_name": lv.name,
        "verdict": item["verdict"],
        "text": next_step_text(crit, item),
    }


def _criterion_columns(
    model: Model,
    values: pd.DataFrame,
    samples: pd.DataFrame,
    survey_means: dict[str, np.ndarray],
    survey_ns: dict[str, np.ndarray],
    verdicts: dict[str, np.ndarray],
    parts: dict[str, tuple[Any, Any]],
) -> dict[str, Any]:
    """Per criterion, a function of the row that builds its evidence item from plain lists."""
    n = len(values)
    out = {}
    for dim in model.dimensions:
        for lv in dim.levels:
            for crit in lv.criteria:
                out[crit.id] = _column(
                    crit, lv.number, values, samples, survey_means, survey_ns, verdicts, parts, n
                )
    return out


def _column(
    crit: Criterion,
    level: int,
    values: pd.DataFrame,
    samples: pd.DataFrame,
    survey_means: dict[str, np.ndarray],
    survey_ns: dict[str, np.ndarray],
    verdicts: dict[str, np.ndarray],
    parts: dict[str, tuple[Any, Any]],
    n: int,
) -> Any:
    verdict = [VERDICTS[v] for v in verdicts[crit.id].tolist()]
    m_part, s_part = parts[crit.id]
    metric_cols = None
    if crit.metric is not None:
        name = crit.metric.metric
        info = metrics_mod.CATALOGUE[name]
        raw = values[name].to_numpy(dtype=np.float64) if name in values else np.full(n, np.nan)
        vals = [None if v != v else v for v in np.round(raw, 4).tolist()]
        samp = (
            np.nan_to_num(samples[name].to_numpy(dtype=np.float64)).astype(np.int64).tolist()
            if name in samples
            else [0] * n
        )
        apart_name = metrics_mod.COUNTED_APART.get(name)
        apart = (
            np.nan_to_num(samples[apart_name].to_numpy(dtype=np.float64)).astype(np.int64).tolist()
            if apart_name is not None and apart_name in samples
            else None
        )
        mverd = [VERDICTS[v] for v in m_part.tolist()]
        static = {
            "name": name,
            "op": crit.metric.op,
            "threshold": crit.metric.threshold,
            "unit": info.unit,
            "records": {"tables": list(info.sources)},
        }
        metric_cols = (vals, samp, mverd, static, apart)
    survey_cols = None
    if crit.survey is not None:
        means = survey_means.get(crit.id)
        ns = survey_ns.get(crit.id)
        mean_l = (
            [None if v != v else round(v, 4) for v in means.tolist()]
            if means is not None
            else [None] * n
        )
        n_l = ns.astype(np.int64).tolist() if ns is not None else [0] * n
        sverd = [VERDICTS[v] for v in s_part.tolist()]
        sstatic = {"min_mean": crit.survey.min_mean}
        survey_cols = (mean_l, n_l, sverd, sstatic)

    def item(row: int) -> dict[str, Any]:
        out: dict[str, Any] = {"id": crit.id, "level": level, "verdict": verdict[row]}
        if metric_cols is not None:
            vals, samp, mverd, static, apart = metric_cols
            out["metric"] = {
                **static,
                "value": vals[row],
                "sample_size": samp[row],
                "verdict": mverd[row],
            }
            if apart is not None:
                # how many values of the sample were matched by time, not by content
                out["metric"]["matched_by_time"] = apart[row]
        if survey_cols is not None:
            mean_l, n_l, sverd, sstatic = survey_cols
            out["survey"] = {
                **sstatic,
                "mean": mean_l[row],
                "responses": n_l[row],
                "verdict": sverd[row],
            }
        return out

    return item


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
            unit = metric["unit"]
            notes.append(
                f"now {display.value(metric['value'], unit)}, needs {metric['op']} "
                f"{display.value(metric['threshold'], unit)}"
            )
    if survey is not None:
        if survey["mean"] is None:
            notes.append("ask the team in a survey")
        elif survey["verdict"] == "unmet":
            notes.append(f"survey mean {survey['mean']:g} of 5, needs {survey['min_mean']:g}")
    return f"{text} ({'; '.join(notes)})" if notes else text
