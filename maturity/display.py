"""How the product's numbers and names read, defined once for the pages, the API, the CLI and
the reports: one formatter per unit, the level names, the DORA keys' names.

Every stored value keeps its catalogue unit (``maturity.metrics.CATALOGUE``: shares as 0-1,
durations in hours or days, frequencies per week); only the text shown to a person goes
through :func:`value`, so that a change failure rate of 0.0323 reads "3.2%" on the overview,
the team page, ``maturity status`` and in a report alike.
"""

from __future__ import annotations

import math

from maturity.model import LEVELS

__all__ = [
    "DORA_HEADING",
    "DORA_LABELS",
    "DORA_NOTE",
    "LEVELS",
    "NO_DATA",
    "UNKNOWN",
    "axis_unit",
    "change",
    "level_name",
    "number",
    "value",
]

#: what a metric without data reads as (docs/scoring.md: unknown is not zero)
UNKNOWN = "unknown"
#: what a dimension none of whose criteria had data reads as, instead of "Base 0.00"
NO_DATA = "no data"

#: the DORA keys as people name them (DORA 2024), in the order of their tiles
#: (``maturity.metrics.DORA_TILES``: the four keys, then failed deployment recovery time)
DORA_LABELS: dict[str, str] = {
    "deployment_frequency": "Deployment frequency",
    "lead_time_hours": "Lead time for changes",
    "change_failure_rate": "Change failure rate",
    "time_to_restore_hours": "Time to restore service",
    "failed_deployment_recovery_hours": "Failed deployment recovery time",
}
#: the heading over the tiles on the pages and in the reports, and what it holds
DORA_HEADING = "DORA keys"
DORA_NOTE = (
    "The four keys and, beside time to restore service, failed deployment recovery time, "
    "the key DORA 2024 added (docs/scoring.md). Each key has its own tier (DORA 2024); "
    "they are never averaged into one."
)

_HOURS_PER_DAY = 24.0


def _missing(v: float | None) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def number(v: float) -> str:
    """A plain number with as many digits as it deserves: 0.23, 2.5, 12, 1,250."""
    a = abs(v)
    if a >= 100 or v == round(v):
        return f"{v:,.0f}"
    text = f"{v:.1f}" if a >= 1 else f"{v:.2g}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _percent(v: float, *, signed: bool = False) -> str:
    pct = v * 100
    sign = "+" if signed and pct > 0 else ""
    if pct != 0 and abs(pct) < 10 and round(pct) != round(pct, 1):
        return f"{sign}{pct:.1f}"
    return f"{sign}{pct:.0f}"


def _duration_hours(h: float) -> str:
    """Hours as minutes, hours or days, by size."""
    a = abs(h)
    if a < 1:
        return f"{h * 60:.0f} min"
    if a < 48:
        return f"{number(h)} h"
    return f"{number(h / _HOURS_PER_DAY)} days"


def value(v: float | None, unit: str) -> str:
    """A stored value in its catalogue unit, as a person reads it.

    ``share`` reads as a percentage (3.2%, 45%), ``hours`` and ``days`` as minutes, hours or
    days by size (40 min, 5.2 h, 3.1 days), ``per week`` as a frequency (0.23 per week); other
    units follow the number (12 commits). No value reads ``unknown``.
    """
    if _missing(v):
        return UNKNOWN
    assert v is not None
    v = float(v)
    if unit == "share":
        return f"{_percent(v)}%"
    if unit == "hours":
        return _duration_hours(v)
    if unit == "days":
        return _duration_hours(v * _HOURS_PER_DAY)
    if unit == "per week":
        return f"{number(v)} per week"
    return f"{number(v)} {unit}".strip()


def change(delta: float | None, unit: str) -> str:
    """A difference of two values of ``unit``: percentage points for shares, else as
    :func:`value` with a sign."""
    if _missing(delta):
        return "n/a"
    assert delta is not None
    if unit == "share":
        return f"{_percent(delta, signed=True)} pp"
    text = value(delta, unit)
    return text if text.startswith("-") or delta == 0 else f"+{text}"


def axis_unit(unit: str, values: list[float]) -> tuple[float, str]:
    """How a chart's axis shows ``values`` of ``unit``: a factor to multiply them by and the
    axis title, so that a lead time of days reads in days and one of hours in hours."""
    if unit == "hours":
        top = max((abs(v) for v in values if not _missing(v)), default=0.0)
        return (1 / _HOURS_PER_DAY, "days") if top >= 48 else (1.0, "hours")
    if unit == "days":
        top = max((abs(v) for v in values if not _missing(v)), default=0.0)
        return (_HOURS_PER_DAY, "hours") if 0 < top < 2 else (1.0, "days")
    return 1.0, unit


def level_name(level: int, coverage: float | None) -> str:
    """A dimension's level as shown: the model's name, or "no data" when none of its criteria
    had data (coverage 0), which the stored level 0 would otherwise show as Base."""
    if coverage is not None and coverage <= 0:
        return NO_DATA
    return LEVELS[level]
