"""The metrics catalogue: DORA four keys and model evidence, vectorized over teams and weeks.

Every metric is computed for every team and every period end at once over a trailing window of
``window_days`` days: an event on local day ``d`` counts for period end ``p`` when
``p - window_days < d <= p`` (days in the configured time zone). Results are 2-D arrays
``[team, period]`` of values (NaN = unknown) and sample sizes, turned into one long frame by
:func:`compute`. A metric with no data is unknown (NaN), never zero; the exact definition of
each metric is in ``docs/scoring.md`` and in :data:`CATALOGUE`.

The package: :mod:`.catalogue` (what a metric is, the registry and its order, :func:`reach`),
:mod:`.grid` (the inputs, the grid and the window helpers), :mod:`.dora` (the DORA tiers), and
one module per family of metrics, each defining its metrics right above the function that
computes them: :mod:`.source_control`, :mod:`.builds`, :mod:`.delivery` (with
:mod:`.lead_time`), :mod:`.incidents` and :mod:`.sources`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pandas as pd

from maturity.config import EnvironmentsConfig, RulesConfig
from maturity.metrics import builds, catalogue, delivery, incidents, source_control, sources
from maturity.metrics.builds import FAILURE_RESULTS, SUCCESS_RESULTS
from maturity.metrics.catalogue import CATALOGUE, READ_TABLES, Hours, Metric, Need, reach
from maturity.metrics.delivery import DEPLOY_FAILURE, DEPLOY_SUCCESS, environment_tier
from maturity.metrics.dora import DORA_KEYS, DORA_TIERS, DORA_TILES, STRICT_BOUNDS, tier, tiers
from maturity.metrics.grid import (
    Array,
    Family,
    Frames,
    Grid,
    Result,
    cumulative_count,
    last_day,
    presence,
    window_median,
    window_sum,
)
from maturity.metrics.lead_time import (
    COUNTED_APART,
    LOOKBACK_DAYS,
    PR_MERGE_SLACK,
    REBASE_SECONDS,
    _first_reach,
)
from maturity.metrics.source_control import CI_MATCH, TAG_AFTER_BUILD
from maturity.metrics.sources import SOURCE_KINDS

__all__ = [
    "CATALOGUE",
    "CI_MATCH",
    "COUNTED_APART",
    "DEPLOY_FAILURE",
    "DEPLOY_SUCCESS",
    "DORA_KEYS",
    "DORA_TIERS",
    "DORA_TILES",
    "FAILURE_RESULTS",
    "FAMILIES",
    "LOOKBACK_DAYS",
    "PR_MERGE_SLACK",
    "READ_TABLES",
    "REBASE_SECONDS",
    "SOURCE_KINDS",
    "STRICT_BOUNDS",
    "SUCCESS_RESULTS",
    "TAG_AFTER_BUILD",
    "Array",
    "Family",
    "Frames",
    "Grid",
    "Hours",
    "Metric",
    "Need",
    "Result",
    "_first_reach",
    "compute",
    "compute_arrays",
    "cumulative_count",
    "environment_tier",
    "last_day",
    "reach",
    "tier",
    "tiers",
    "to_long",
    "window_median",
    "window_sum",
]

#: every family module has defined its metrics by now: the catalogue takes its order
catalogue.arrange()

#: the families, in the order they run (each fills the metrics it defines)
FAMILIES: tuple[Family, ...] = (
    source_control.git,
    source_control.reviews,
    source_control.tags,
    builds.builds,
    delivery.deployments,
    incidents.incidents,
)


def compute(
    frames: Frames,
    period_ends: Sequence[dt.date],
    *,
    window_days: int = 90,
    tz: str = "UTC",
    rules: RulesConfig | None = None,
    environments: EnvironmentsConfig | None = None,
) -> pd.DataFrame:
    """Every metric of the catalogue for every team and period end.

    Returns:
        A long frame: team_id, period_end (date), metric, value (NaN = unknown), sample_size.
    """
    grid = Grid(
        np.asarray(sorted(frames.team_ids), dtype=np.int64), sorted(period_ends), window_days, tz
    )
    results = compute_arrays(
        frames, grid, rules or RulesConfig(), environments or EnvironmentsConfig()
    )
    return to_long(grid, results)


def compute_arrays(
    frames: Frames, grid: Grid, rules: RulesConfig, envs: EnvironmentsConfig
) -> Result:
    """The catalogue as ``{metric: (values[T, K], sample_size[T, K])}``."""
    present = presence(frames, grid)
    out: Result = {}
    for family in FAMILIES:
        out.update(family(frames, grid, present, rules, envs))
    out.update(sources.sources(frames, grid, present))
    missing = set(CATALOGUE) - set(out)
    assert not missing, f"metrics without a computation: {missing}"
    return out


def to_long(grid: Grid, results: Result) -> pd.DataFrame:
    names = [n for n in CATALOGUE if n in results]
    n = grid.T * grid.K
    return pd.DataFrame(
        {
            "team_id": np.tile(np.repeat(grid.team_ids, grid.K), len(names)),
            "period_end": np.tile(
                np.tile(np.array(grid.period_ends, dtype=object), grid.T), len(names)
            ),
            "metric": np.repeat(np.array(names, dtype=object), n),
            "value": np.concatenate([results[m][0].ravel() for m in names]) if names else [],
            "sample_size": np.concatenate(
                [np.nan_to_num(results[m][1]).ravel() for m in names]
            ).astype(np.int64)
            if names
            else [],
        }
    )
