"""DORA 2024 performance tiers of the four keys (and failed deployment recovery time)."""

from __future__ import annotations

from typing import Any

import pandas as pd

#: Accelerate State of DevOps Report 2024 (DORA, Google Cloud), "software delivery performance
#: levels", https://dora.dev/research/2024/dora-report/. Each list is (tier, upper bound) for
#: metrics where lower is better, (tier, lower bound) where higher is better.
DORA_TIERS: dict[str, tuple[str, list[tuple[str, float]]]] = {
    # DORA's answer options: on demand (multiple deploys per day) / between once per day and
    # once per week / between once per week and once per month / between once per month and
    # once every six months. Daily (7 a week) is "daily to weekly": elite needs more than 7.
    "deployment_frequency": ("higher", [("elite", 7.0), ("high", 1.0), ("medium", 12 / 52)]),
    # under a day / a day to a week / a week to a month / one to six months
    "lead_time_hours": ("lower", [("elite", 24.0), ("high", 24.0 * 7), ("medium", 24.0 * 30)]),
    # 5 % / 20 % / 10 % / 40 %: the report's medium (10 %) is below its high (20 %) because the
    # tiers are clusters of all four keys; for one key alone we keep the order elite < high <
    # medium < low with the bounds 5 %, 20 %, 40 %.
    "change_failure_rate": ("lower", [("elite", 0.05), ("high", 0.20), ("medium", 0.40)]),
    # under an hour / under a day / under a day / a week to a month: medium is placed up to a week
    "time_to_restore_hours": ("lower", [("elite", 1.0), ("high", 24.0), ("medium", 24.0 * 7)]),
    # DORA 2024 measures failed deployment recovery time on the same answer options
    "failed_deployment_recovery_hours": (
        "lower",
        [("elite", 1.0), ("high", 24.0), ("medium", 24.0 * 7)],
    ),
}

#: the four keys, as DORA names them (``maturity status`` shows these)
DORA_KEYS = (
    "deployment_frequency",
    "lead_time_hours",
    "change_failure_rate",
    "time_to_restore_hours",
)
#: the keys shown as tiles on the pages and in the reports: the four keys and, beside time to
#: restore, DORA 2024's failed deployment recovery time (docs/scoring.md)
DORA_TILES = (*DORA_KEYS, "failed_deployment_recovery_hours")

#: (metric, tier) whose bound belongs to the tier below: on demand is *more* than daily
STRICT_BOUNDS: frozenset[tuple[str, str]] = frozenset({("deployment_frequency", "elite")})
#: values this close to a bound are on it (90 deployments / (90 / 7) weeks is 7 a week)
_EDGE = 1e-9


def _reaches(metric: str, name: str, direction: str, bound: float, value: Any) -> Any:
    """Whether ``value`` (a number or an array) is inside the tier whose bound is ``bound``."""
    tol = _EDGE * max(abs(bound), 1.0)
    if direction == "higher":
        if (metric, name) in STRICT_BOUNDS:
            return value > bound + tol
        return value >= bound - tol
    if (metric, name) in STRICT_BOUNDS:
        return value < bound - tol
    return value <= bound + tol


def tier(metric: str, value: float | None) -> str:
    """The DORA 2024 tier of one key's value: elite, high, medium, low, or unknown."""
    if value is None or value != value:
        return "unknown"
    direction, bounds = DORA_TIERS[metric]
    for name, bound in bounds:
        if _reaches(metric, name, direction, bound, value):
            return name
    return "low"


def tiers(metric: str, values: pd.Series) -> pd.Series:
    """:func:`tier` over a column, vectorized."""
    direction, bounds = DORA_TIERS[metric]
    out = pd.Series("low", index=values.index, dtype=object)
    for name, bound in reversed(bounds):
        hit = _reaches(metric, name, direction, bound, values)
        out[hit.to_numpy()] = name
    out[values.isna().to_numpy()] = "unknown"
    return out
