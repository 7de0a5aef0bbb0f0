"""The maturity model as data: dimensions, cumulative levels and checkable criteria.

A model is a TOML file (the default ships in ``maturity/models/default.toml``). Every level of
every dimension carries the seed's text and a list of criteria; a criterion checks a metric of
the catalogue (``check = "review_rate >= 0.8"``), asks a survey question with a threshold, or
both. Loading validates everything and raises :class:`ModelError` naming the file and the
criterion at fault. The model version is the declared ``version`` plus a short hash of the
content, so two files that differ never share a version.
"""

from __future__ import annotations

import hashlib
import json
import operator
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: the five levels, in order; a level's index is its number (Base = 0 needs nothing)
LEVELS: tuple[str, ...] = ("Base", "Beginner", "Intermediate", "Advanced", "Expert")
DEFAULT_PATH = Path(__file__).parent / "models" / "default.toml"

OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
}
_CHECK = re.compile(r"^\s*([a-z][a-z0-9_]*)\s*(>=|<=|==|>|<)\s*(-?[0-9]+(?:\.[0-9]+)?)\s*$")
_ID = re.compile(r"^[a-z][a-z0-9_.-]*$")


class ModelError(Exception):
    """A model file is wrong; the message names the file and the criterion (or key)."""


@dataclass(frozen=True)
class MetricCheck:
    """``metric op threshold`` over the trailing window."""

    metric: str
    op: str
    threshold: float

    def text(self) -> str:
        return f"{self.metric} {self.op} {_num(self.threshold)}"


@dataclass(frozen=True)
class SurveyCheck:
    """A survey question answered on a 1-5 scale; met when the team's mean reaches ``min_mean``."""

    question: str
    min_mean: float


@dataclass(frozen=True)
class Criterion:
    id: str
    description: str
    rationale: str
    statement: str
    metric: MetricCheck | None = None
    survey: SurveyCheck | None = None

    @property
    def kind(self) -> str:
        """``metric``, ``survey`` or ``both``."""
        if self.metric and self.survey:
            return "both"
        return "metric" if self.metric else "survey"


@dataclass(frozen=True)
class Level:
    number: int
    name: str
    text: str
    criteria: tuple[Criterion, ...] = ()


@dataclass(frozen=True)
class Dimension:
    id: str
    name: str
    levels: tuple[Level, ...]

    def criteria(self) -> list[tuple[Level, Criterion]]:
        return [(lv, c) for lv in self.levels for c in lv.criteria]


@dataclass(frozen=True)
class Model:
    name: str
    declared_version: str
    digest: str
    source: str
    dimensions: tuple[Dimension, ...] = field(default=())

    @property
    def version(self) -> str:
        """What snapshots record: the declared version plus a short content hash."""
        return f"{self.declared_version}+{self.digest}"

    def dimension(self, dim_id: str) -> Dimension:
        for dim in self.dimensions:
            if dim.id == dim_id:
                return dim
        raise KeyError(dim_id)

    def criteria(self) -> list[tuple[Dimension, Level, Criterion]]:
        return [(d, lv, c) for d in self.dimensions for lv, c in d.criteria()]

    def metrics_used(self) -> set[str]:
        return {c.metric.metric for _, _, c in self.criteria() if c.metric}

    def survey_criteria(self) -> list[Criterion]:
        """The criteria the survey feature asks about (``survey`` or ``both``)."""
        return [c for _, _, c in self.criteria() if c.survey]


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def load(path: str | Path | None = None, *, metrics: Mapping[str, Any] | None = None) -> Model:
    """Load and validate a model file; ``None`` loads the default model.

    Args:
        path: a TOML model file. A file with ``extends = "default"`` adds to (and may replace
            criteria of) the default model instead of replacing it.
        metrics: the metric catalogue to check ``check`` expressions against (defaults to
            :data:`maturity.metrics.CATALOGUE`).
    """
    if metrics is None:
        from maturity import metrics as metrics_mod

        metrics = metrics_mod.CATALOGUE
    file = Path(path) if path is not None else DEFAULT_PATH
    try:
        data = _read(file)
        if data.get("extends") is not None:
            if data["extends"] != "default":
                raise ModelError(f"{file}: extends: only 'default' can be extended")
            base = _read(DEFAULT_PATH)
            data = _merge(base, data, file)
        return parse(data, source=str(file), metrics=metrics)
    except RecursionError:
        # tomllib and the checks below recurse per level of nesting; no model nests deeply.
        raise ModelError(f"{file}: nested too deeply to be a model") from None


def _read(file: Path) -> dict[str, Any]:
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ModelError(f"{file}: no such model file") from None
    except IsADirectoryError:
        raise ModelError(f"{file}: is a folder, not a model file") from None
    except UnicodeDecodeError:
        raise ModelError(f"{file}: not a text file (UTF-8)") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ModelError(f"{file}: not valid TOML: {exc}") from None


def _merge(base: dict[str, Any], extra: dict[str, Any], file: Path) -> dict[str, Any]:
    """The default model plus an organisation's dimensions and criteria (same id replaces)."""
    merged = json.loads(json.dumps(base))
    merged["name"] = extra.get("name", merged.get("name"))
    merged["version"] = f"{base.get('version')}/{extra.get('version', 'local')}"
    dims = {d.get("id"): d for d in merged["dimensions"]}
    for dim in extra.get("dimensions", []):
        target = dims.get(dim.get("id"))
        if target is None:
            merged["dimensions"].append(dim)
            dims[dim.get("id")] = dim
            continue
        levels = {lv.get("name"): lv for lv in target["levels"]}
        for lv in dim.get("levels", []):
            if lv.get("name") not in levels:
                raise ModelError(
                    f"{file}: dimension {dim.get('id')!r}: unknown level {lv.get('name')!r} "
                    f"(levels: {', '.join(LEVELS)})"
                )
            into = levels[lv["name"]].setdefault("criteria", [])
            for crit in lv.get("criteria", []):
                # An organisation's criterion with a default id replaces the default one.
                for other in target["levels"]:
                    other["criteria"] = [
                        c for c in other.get("criteria", []) if c.get("id") != crit.get("id")
                    ]
                into = levels[lv["name"]].setdefault("criteria", [])
                into.append(crit)
    return merged


def parse(data: Mapping[str, Any], *, source: str, metrics: Mapping[str, Any]) -> Model:
    """Validate a model given as parsed TOML; errors name the criterion id."""
    known_top = {"name", "version", "description", "dimensions", "extends"}
    for key in data:
        if key not in known_top:
            raise ModelError(
                f"{source}: {key}: unknown key (expected {', '.join(sorted(known_top))})"
            )
    version = data.get("version")
    if not isinstance(version, str) or not version.strip():
        raise ModelError(f'{source}: version: required, a string such as "1.0"')
    dims_raw = data.get("dimensions")
    if not isinstance(dims_raw, list) or not dims_raw:
        raise ModelError(f"{source}: dimensions: at least one [[dimensions]] table is required")
    seen_ids: set[str] = set()
    seen_dims: set[str] = set()
    dimensions = []
    for i, dim in enumerate(dims_raw):
        where = f"{source}: dimensions[{i}]"
        if not isinstance(dim, dict):
            raise ModelError(f"{where}: expected a table")
        _only(dim, {"id", "name", "levels"}, where)
        dim_id = dim.get("id")
        if not isinstance(dim_id, str) or not _ID.match(dim_id):
            raise ModelError(f"{where}: id: required, lowercase letters, digits, '_', '.', '-'")
        if dim_id in seen_dims:
            raise ModelError(f"{where}: dimension {dim_id!r} is defined twice")
        seen_dims.add(dim_id)
        where = f"{source}: dimension {dim_id!r}"
        levels_raw = dim.get("levels")
        if not isinstance(levels_raw, list):
            raise ModelError(f"{where}: levels: required, one [[dimensions.levels]] per level")
        names = [lv.get("name") if isinstance(lv, dict) else None for lv in levels_raw]
        if names != list(LEVELS):
            raise ModelError(
                f"{where}: levels: expected exactly {', '.join(LEVELS)} in that order, "
                f"got {', '.join(map(str, names))}"
            )
        levels = []
        for number, lv in enumerate(levels_raw):
            lwhere = f"{where} level {lv['name']!r}"
            _only(lv, {"name", "text", "criteria"}, lwhere)
            text = lv.get("text")
            if not isinstance(text, str) or not text.strip():
                raise ModelError(f"{lwhere}: text: required (the seed's words for this cell)")
            crits_raw = lv.get("criteria", [])
            if number == 0 and crits_raw:
                raise ModelError(f"{lwhere}: Base needs nothing; it cannot have criteria")
            if number > 0 and not crits_raw:
                raise ModelError(f"{lwhere}: criteria: at least one criterion is required")
            crits = [
                _criterion(c, f"{lwhere}", seen_ids, metrics) for c in crits_raw if c is not None
            ]
            levels.append(Level(number, lv["name"], text.strip(), tuple(crits)))
        name = dim.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ModelError(f"{where}: name: required")
        dimensions.append(Dimension(dim_id, name, tuple(levels)))
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:8]
    return Model(
        name=str(data.get("name", "maturity model")),
        declared_version=version.strip(),
        digest=digest,
        source=source,
        dimensions=tuple(dimensions),
    )


def _only(table: Mapping[str, Any], allowed: set[str], where: str) -> None:
    for key in table:
        if key not in allowed:
            raise ModelError(f"{where}: {key}: unknown key (expected {', '.join(sorted(allowed))})")


def _criterion(raw: Any, where: str, seen: set[str], metrics: Mapping[str, Any]) -> Criterion:
    if not isinstance(raw, dict):
        raise ModelError(f"{where}: criteria: expected tables")
    cid = raw.get("id")
    if not isinstance(cid, str) or not _ID.match(cid):
        raise ModelError(
            f"{where}: a criterion has no valid id (got {cid!r}); ids are lowercase letters, "
            "digits, '_', '.', '-'"
        )
    cwhere = f"{where}: criterion {cid!r}"
    if cid in seen:
        raise ModelError(f"{cwhere}: the id is used twice")
    seen.add(cid)
    _only(raw, {"id", "description", "rationale", "statement", "check", "survey"}, cwhere)
    for key in ("description", "rationale"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise ModelError(f"{cwhere}: {key}: required, a sentence")
    metric = None
    if "check" in raw:
        check = raw["check"]
        match = _CHECK.match(check) if isinstance(check, str) else None
        if not match:
            raise ModelError(
                f"{cwhere}: check: expected 'metric op number' such as 'review_rate >= 0.8', "
                f"got {check!r}"
            )
        name, op, value = match.groups()
        if name not in metrics:
            raise ModelError(
                f"{cwhere}: check: unknown metric {name!r} (known: {', '.join(sorted(metrics))})"
            )
        metric = MetricCheck(name, op, float(value))
    survey = None
    if "survey" in raw:
        sv = raw["survey"]
        if not isinstance(sv, dict):
            raise ModelError(f"{cwhere}: survey: expected a table with question and min_mean")
        _only(sv, {"question", "min_mean"}, f"{cwhere}: survey")
        question = sv.get("question")
        if not isinstance(question, str) or not question.strip():
            raise ModelError(f"{cwhere}: survey.question: required")
        min_mean = sv.get("min_mean", 4.0)
        if not isinstance(min_mean, int | float) or not 1 <= float(min_mean) <= 5:
            raise ModelError(
                f"{cwhere}: survey.min_mean: a number from 1 to 5 (answers are on a 1-5 scale), "
                f"got {min_mean!r}"
            )
        survey = SurveyCheck(question.strip(), float(min_mean))
    if metric is None and survey is None:
        raise ModelError(f"{cwhere}: needs a check, a survey question, or both")
    return Criterion(
        id=cid,
        description=raw["description"].strip(),
        rationale=raw["rationale"].strip(),
        statement=str(raw.get("statement", "")).strip(),
        metric=metric,
        survey=survey,
    )
