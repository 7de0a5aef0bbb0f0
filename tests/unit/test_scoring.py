"""Scoring rules: cumulative levels, unknown criteria, fractional score, coverage, surveys."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from maturity import model as model_mod
from maturity import scoring

WEEK = dt.date(2026, 3, 8)

TOY = """
version = "t1"
[[dimensions]]
id = "delivery"
name = "Delivery"
[[dimensions.levels]]
name = "Base"
text = "nothing"
[[dimensions.levels]]
name = "Beginner"
text = "builds"
[[dimensions.levels.criteria]]
id = "d.builds"
description = "builds run"
rationale = "r"
check = "builds >= 1"
[[dimensions.levels]]
name = "Intermediate"
text = "green and reviewed"
[[dimensions.levels.criteria]]
id = "d.green"
description = "builds are green"
rationale = "r"
check = "build_success_rate >= 0.8"
[[dimensions.levels.criteria]]
id = "d.review"
description = "changes are reviewed"
rationale = "r"
check = "review_rate >= 0.8"
survey = { question = "We review all code.", min_mean = 4.0 }
[[dimensions.levels]]
name = "Advanced"
text = "tested"
[[dimensions.levels.criteria]]
id = "d.tests"
description = "tests are published"
rationale = "r"
check = "test_reporting_share >= 0.8"
[[dimensions.levels.criteria]]
id = "d.docs"
description = "documented"
rationale = "r"
survey = { question = "Our build is documented.", min_mean = 4.0 }
[[dimensions.levels]]
name = "Expert"
text = "linted"
[[dimensions.levels.criteria]]
id = "d.lint"
description = "linted"
rationale = "r"
check = "lint_share >= 0.9"
"""


@pytest.fixture
def toy(tmp_path: Path) -> model_mod.Model:
    path = tmp_path / "toy.toml"
    path.write_text(TOY)
    return model_mod.load(path)


def values(**kw: float) -> pd.DataFrame:
    """One team, one week: the given metrics (NaN = unknown)."""
    return pd.DataFrame(
        {
            "team_id": 1,
            "period_end": WEEK,
            "metric": list(kw),
            "value": list(kw.values()),
            "sample_size": 10,
        }
    )


def one(model: model_mod.Model, vals: pd.DataFrame, **kw: object) -> pd.Series:
    out = scoring.score(model, vals, **kw)  # type: ignore[arg-type]
    assert len(out) == 1
    return out.iloc[0]


def test_base_needs_nothing(toy: model_mod.Model) -> None:
    row = one(toy, values(builds=np.nan))
    assert row["level"] == 0
    assert row["evidence"]["level_name"] == "Base"


def test_levels_are_cumulative_a_higher_level_met_does_not_count_below_an_unmet_one(
    toy: model_mod.Model,
) -> None:
    # everything of Advanced and Expert is met, Intermediate's green build is not
    row = one(
        toy,
        values(
            builds=5,
            build_success_rate=0.5,
            review_rate=1.0,
            test_reporting_share=1.0,
            lint_share=1.0,
        ),
        survey={1: {"d.docs": (5.0, 5), "d.review": (5.0, 5)}},
    )
    assert row["level"] == 1
    assert row["score"] == pytest.approx(1.5)  # one of Intermediate's two criteria met


def test_fractional_score_is_level_plus_share_of_next_level_met(toy: model_mod.Model) -> None:
    row = one(
        toy,
        values(
            builds=5,
            build_success_rate=0.9,
            review_rate=0.9,
            test_reporting_share=0.9,
            lint_share=0.1,
        ),
    )
    # Advanced: tests met, docs (survey) unknown -> level 2, 2 + 1/2
    assert row["level"] == 2
    assert row["score"] == pytest.approx(2.5)


def test_unknown_criteria_block_the_level_and_lower_coverage(toy: model_mod.Model) -> None:
    row = one(
        toy,
        values(
            builds=5,
            build_success_rate=np.nan,
            review_rate=0.9,
            test_reporting_share=np.nan,
            lint_share=np.nan,
        ),
    )
    assert row["level"] == 1
    assert row["coverage"] == pytest.approx(2 / 6, abs=1e-4)  # builds, review known; 4 unknown
    verdicts = {c["id"]: c["verdict"] for c in row["evidence"]["criteria"]}
    assert verdicts == {
        "d.builds": "met",
        "d.green": "unknown",
        "d.review": "met",
        "d.tests": "unknown",
        "d.docs": "unknown",
        "d.lint": "unknown",
    }


def test_expert_is_reached_when_everything_is_met(toy: model_mod.Model) -> None:
    row = one(
        toy,
        values(
            builds=5,
            build_success_rate=0.9,
            review_rate=0.9,
            test_reporting_share=0.9,
            lint_share=0.95,
        ),
        survey={1: {"d.docs": (4.0, 5)}},
    )
    assert (row["level"], row["score"], row["coverage"]) == (4, 4.0, 1.0)
    assert row["evidence"]["next_steps"] == []


@pytest.mark.parametrize(
    ("metric_value", "survey", "expected"),
    [
        (0.9, None, "met"),  # survey unknown: the metric decides
        (0.5, None, "unmet"),
        (np.nan, (4.5, 5), "met"),  # metric unknown: the survey decides
        (np.nan, None, "unknown"),
        (0.9, (2.0, 5), "unmet"),  # both known: both must hold
        (0.5, (5.0, 5), "unmet"),
        (0.9, (4.0, 5), "met"),
        (0.9, (1.0, 0), "met"),  # no responses is no answer
    ],
)
def test_a_criterion_with_metric_and_survey(
    toy: model_mod.Model, metric_value: float, survey: tuple[float, int] | None, expected: str
) -> None:
    answers = {1: {"d.review": survey}} if survey else None
    row = one(toy, values(builds=1, review_rate=metric_value), survey=answers)
    item = next(c for c in row["evidence"]["criteria"] if c["id"] == "d.review")
    assert item["verdict"] == expected


def test_survey_given_as_a_frame_per_period_applies_to_that_period_only(
    toy: model_mod.Model,
) -> None:
    week2 = WEEK + dt.timedelta(days=7)
    vals = pd.concat(
        [
            values(builds=1, test_reporting_share=1.0, build_success_rate=1.0, review_rate=1.0),
            values(
                builds=1, test_reporting_share=1.0, build_success_rate=1.0, review_rate=1.0
            ).assign(period_end=week2),
        ]
    )
    survey = pd.DataFrame(
        {"team_id": [1], "period_end": [week2], "criterion_id": ["d.docs"], "mean": [4.5], "n": [6]}
    )
    out = scoring.score(toy, vals, survey=survey).set_index("period_end")
    assert out.loc[WEEK, "level"] == 2
    assert out.loc[week2, "level"] == 3


def test_evidence_names_value_threshold_window_and_records(toy: model_mod.Model) -> None:
    row = one(toy, values(builds=3, build_success_rate=0.5), window_days=28)
    ev = row["evidence"]
    assert ev["window_days"] == 28
    assert ev["period_end"] == "2026-03-08" and ev["period_start"] == "2026-02-09"
    assert ev["model_version"] == toy.version
    green = next(c for c in ev["criteria"] if c["id"] == "d.green")
    assert green["metric"] == {
        "name": "build_success_rate",
        "value": 0.5,
        "op": ">=",
        "threshold": 0.8,
        "unit": "share",
        "sample_size": 10,
        "verdict": "unmet",
        "records": {"tables": ["builds"]},
    }


def test_next_steps_are_the_unmet_and_unknown_criteria_of_the_next_level_in_words(
    toy: model_mod.Model,
) -> None:
    row = one(toy, values(builds=3, build_success_rate=0.5, review_rate=np.nan))
    steps = row["evidence"]["next_steps"]
    assert [(s["id"], s["verdict"], s["level_name"]) for s in steps] == [
        ("d.green", "unmet", "Intermediate"),
        ("d.review", "unknown", "Intermediate"),
    ]
    assert steps[0]["text"] == "builds are green (now 50%, needs >= 80%)"
    assert steps[1]["text"] == (
        "changes are reviewed (no data yet for review_rate; ask the team in a survey)"
    )


def test_scoring_is_vectorized_over_teams_and_weeks(toy: model_mod.Model) -> None:
    rows = []
    for team in (1, 2, 3):
        for k in range(4):
            rows.append(
                {
                    "team_id": team,
                    "period_end": WEEK + dt.timedelta(weeks=k),
                    "metric": "builds",
                    "value": float(team > 1),
                    "sample_size": 1,
                }
            )
    out = scoring.score(toy, pd.DataFrame(rows))
    assert len(out) == 12
    levels = out.groupby("team_id")["level"].max().to_dict()
    assert levels == {1: 0, 2: 1, 3: 1}


def test_default_model_scores_every_dimension() -> None:
    m = model_mod.load()
    out = scoring.score(m, values(commits=3))
    assert list(out["dimension"]) == [d.id for d in m.dimensions]
