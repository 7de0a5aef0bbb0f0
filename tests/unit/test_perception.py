"""Perception gaps from a snapshot's evidence: survey belief against the data of the same cell."""

from __future__ import annotations

import datetime as dt
from typing import Any

from maturity.perception import gaps_from_evidence

WEEK = dt.date(2026, 11, 29)


def _survey(cid: str, level: int, mean: float | None, verdict: str) -> dict[str, Any]:
    return {
        "id": cid,
        "level": level,
        "verdict": verdict,
        "survey": {"mean": mean, "responses": 6, "min_mean": 4.0, "verdict": verdict},
    }


def _metric(cid: str, level: int, value: float | None, verdict: str) -> dict[str, Any]:
    return {
        "id": cid,
        "level": level,
        "verdict": verdict,
        "metric": {
            "name": "review_rate",
            "value": value,
            "op": ">=",
            "threshold": 0.8,
            "verdict": verdict,
        },
    }


def test_a_belief_the_data_of_the_same_cell_contradicts_is_a_gap() -> None:
    evidence = {
        "dimension": "source_control",
        "criteria": [
            _survey("sc.reviews_all_code", 2, 4.6, "met"),
            _metric("sc.code_review", 2, 0.4, "unmet"),
        ],
    }
    (gap,) = gaps_from_evidence(evidence, WEEK)
    assert (gap.survey_criterion, gap.belief, gap.mean) == ("sc.reviews_all_code", "met", 4.6)
    assert (gap.metric_criterion, gap.data, gap.value, gap.threshold) == (
        "sc.code_review",
        "unmet",
        0.4,
        0.8,
    )
    assert gap.week == WEEK and gap.level == 2 and gap.dimension == "source_control"
    assert gap.as_dict()["week"] == "2026-11-29"


def test_a_modest_team_with_good_data_is_a_gap_the_other_way() -> None:
    evidence = {
        "dimension": "source_control",
        "criteria": [
            _survey("sc.reviews_all_code", 2, 2.1, "unmet"),
            _metric("sc.code_review", 2, 0.95, "met"),
        ],
    }
    (gap,) = gaps_from_evidence(evidence, WEEK)
    assert (gap.belief, gap.data) == ("unmet", "met")


def test_agreement_other_cells_and_unknowns_are_no_gap() -> None:
    evidence = {
        "dimension": "source_control",
        "criteria": [
            _survey("s.agree", 2, 4.5, "met"),
            _metric("m.agree", 2, 0.9, "met"),
            _survey("s.other_level", 3, 1.5, "unmet"),
            _survey("s.unknown", 2, None, "unknown"),
            _metric("m.unknown", 2, None, "unknown"),
        ],
    }
    assert gaps_from_evidence(evidence, WEEK) == []


def test_a_criterion_with_both_parts_that_disagree_is_its_own_gap() -> None:
    both = {
        **_metric("sc.automated_tagging", 4, 0.5, "unmet"),
        "survey": {"mean": 4.8, "responses": 5, "min_mean": 4.0, "verdict": "met"},
    }
    (gap,) = gaps_from_evidence({"dimension": "source_control", "criteria": [both]}, WEEK)
    assert gap.survey_criterion == gap.metric_criterion == "sc.automated_tagging"
