"""Every metric of the catalogue on small hand-built data with known answers and edge cases."""

from __future__ import annotations

import ast
import datetime as dt
import math
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from maturity import metrics
from maturity.config import EnvironmentsConfig, RulesConfig
from tests import history as h

WEEK = dt.date(2026, 3, 8)  # Sunday
WEEKS = 90 / 7


def run(frames: metrics.Frames, *, ends: list[dt.date] | None = None, **kw: object) -> pd.DataFrame:
    return metrics.compute(frames, ends or [WEEK], **kw)  # type: ignore[arg-type]


def value(
    frames: metrics.Frames, metric: str, team: int = 1, end: dt.date = WEEK, **kw: object
) -> float:
    out = run(frames, ends=[end], **kw)
    row = out[(out["metric"] == metric) & (out["team_id"] == team) & (out["period_end"] == end)]
    assert len(row) == 1
    return float(row["value"].iloc[0])


def sample(frames: metrics.Frames, metric: str, team: int = 1) -> int:
    out = run(frames)
    return int(out[(out["metric"] == metric) & (out["team_id"] == team)]["sample_size"].iloc[0])


def unknown(x: float) -> bool:
    return math.isnan(x)


# --- the catalogue ------------------------------------------------------------------------


def test_every_catalogue_metric_is_computed_for_every_team_and_week() -> None:
    ends = [WEEK - dt.timedelta(weeks=i) for i in range(3)]
    out = run(h.frames([1, 2]), ends=ends)
    assert set(out["metric"]) == set(metrics.CATALOGUE)
    assert len(out) == len(metrics.CATALOGUE) * 2 * 3
    assert out.groupby(["team_id", "period_end", "metric"]).size().max() == 1


#: a family that takes some of its metrics from a module beside its own
DELEGATES = {"maturity.metrics.delivery": {"maturity.metrics.lead_time"}}


def defined_in() -> dict[str, str]:
    """Metric -> the module of ``maturity.metrics`` whose ``define(...)`` declares it (read from
    the source, not from the registry)."""
    found: dict[str, str] = {}
    for path in sorted(Path(metrics.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "define":
                name = node.args[0]
                assert isinstance(name, ast.Constant) and name.value not in found, path
                found[name.value] = f"maturity.metrics.{path.stem}"
    return found


def test_each_metric_is_defined_in_the_module_of_the_one_family_that_computes_it() -> None:
    frames = h.frames([1, 2])
    grid = metrics.Grid(np.array([1, 2]), [WEEK], 90)
    present = metrics.grid.presence(frames, grid)
    where = defined_in()
    assert set(where) == set(metrics.CATALOGUE)
    computed_by: dict[str, list[str]] = {}
    runs = [
        (f, f(frames, grid, present, RulesConfig(), EnvironmentsConfig())) for f in metrics.FAMILIES
    ]
    runs.append((metrics.sources.sources, metrics.sources.sources(frames, grid, present)))
    for family, out in runs:
        home = family.__module__
        for name in out:
            assert where[name] in {home, *DELEGATES.get(home, ())}, (name, home)
            computed_by.setdefault(name, []).append(family.__name__)
    assert set(computed_by) == set(metrics.CATALOGUE)
    assert {n: fs for n, fs in computed_by.items() if len(fs) > 1} == {}


def test_no_data_at_all_is_unknown_never_zero() -> None:
    out = run(h.frames([1]))
    assert out["value"].isna().all()
    assert (out["sample_size"] == 0).all()


def test_teams_are_computed_independently_in_one_pass() -> None:
    rows = dict(
        commits=[
            h.commit(1, h.at("2026-03-02"), test_files=1),
            h.commit(1, h.at("2026-03-03")),
            h.commit(2, h.at("2026-03-04")),
        ],
        builds=[h.build(1, result="failure"), h.build(2), h.build(2)],
    )
    together = run(h.frames([1, 2], **rows)).set_index(["team_id", "metric"])["value"]
    alone = run(h.frames([2], commits=rows["commits"][2:], builds=rows["builds"][1:]))
    alone_v = alone.set_index("metric")["value"]
    for metric in ("commits", "test_change_share", "build_success_rate", "builds"):
        assert together[(2, metric)] == alone_v[metric]
    assert together[(1, "build_success_rate")] == 0.0
    assert together[(1, "test_change_share")] == 0.5


# --- DORA: deployment frequency --------------------------------------------------------------


def test_deployment_frequency_is_unknown_without_any_deployment() -> None:
    f = h.frames(commits=[h.commit()])
    assert unknown(value(f, "deployment_frequency"))


def test_one_production_deployment_is_one_per_window_weeks() -> None:
    f = h.frames(deployments=[h.deployment(when=h.at("2026-03-01"))])
    assert value(f, "deployment_frequency") == pytest.approx(1 / WEEKS)
    assert metrics.tier("deployment_frequency", 1 / WEEKS) == "low"


def test_deployment_frequency_is_zero_when_only_staging_was_deployed() -> None:
    f = h.frames(deployments=[h.deployment(environment="staging")])
    assert value(f, "deployment_frequency") == 0.0


def test_failed_deployments_do_not_count_as_deployments() -> None:
    f = h.frames(deployments=[h.deployment(status="failed"), h.deployment(status="success")])
    assert value(f, "deployment_frequency") == pytest.approx(1 / WEEKS)


def test_window_includes_its_last_day_and_excludes_the_day_before_its_first() -> None:
    first_day = WEEK - dt.timedelta(days=89)
    before = WEEK - dt.timedelta(days=90)
    f = h.frames(
        deployments=[
            h.deployment(when=h.at(first_day.isoformat(), 0, 0)),
            h.deployment(when=h.at(WEEK.isoformat(), 23, 59)),
            h.deployment(when=h.at(before.isoformat(), 23, 59)),
            h.deployment(when=h.at((WEEK + dt.timedelta(days=1)).isoformat(), 0, 0)),
        ]
    )
    assert value(f, "production_deployments") == 2


def test_week_boundaries_follow_the_configured_time_zone() -> None:
    ny = ZoneInfo("America/New_York")
    # Sunday 23:30 in New York is Monday 04:30 UTC: next week in UTC, this week in New York
    late_sunday = dt.datetime(2026, 3, 8, 23, 30, tzinfo=ny)
    f = h.frames(
        deployments=[
            h.deployment(when=late_sunday.astimezone(dt.UTC)),
            h.deployment(environment="staging", when=h.at("2026-03-01")),
        ]
    )
    assert value(f, "production_deployments", tz="UTC") == 0
    assert value(f, "production_deployments", tz="America/New_York") == 1
    next_week = WEEK + dt.timedelta(days=7)
    assert value(f, "production_deployments", end=next_week, tz="UTC") == 1


def test_weeks_with_no_data_after_activity_count_zero_not_unknown() -> None:
    old = h.at("2025-06-01")
    f = h.frames(commits=[h.commit(when=old)], deployments=[h.deployment(when=old)])
    assert value(f, "commits") == 0
    assert value(f, "deployment_frequency") == 0
    # shares have no denominator in an empty window: unknown
    assert unknown(value(f, "test_change_share"))
    assert unknown(value(f, "change_failure_rate"))


def test_weeks_before_the_first_record_are_unknown() -> None:
    f = h.frames(commits=[h.commit(when=h.at("2026-03-01"))])
    out = run(f, ends=[dt.date(2026, 2, 22), WEEK])
    commits = out[out["metric"] == "commits"].set_index("period_end")["value"]
    assert unknown(commits[dt.date(2026, 2, 22)])
    assert commits[WEEK] == 1


def test_presence_from_bounds_makes_a_quiet_window_zero() -> None:
    f = h.frames(commits=[])
    f.bounds = pd.DataFrame(
        {
            "team_id": [1],
            "kind": ["git"],
            "first_at": pd.to_datetime(["2025-01-01T00:00Z"]),
            "last_before": pd.to_datetime(["2025-01-02T00:00Z"]),
        }
    )
    assert value(f, "commits") == 0
    assert value(f, "freshness_git_days") == (WEEK - dt.date(2025, 1, 2)).days


# --- DORA: lead time ------------------------------------------------------------------------


def test_lead_time_is_the_median_from_first_commit_to_the_deployment_that_shipped_it() -> None:
    f = h.frames(
        commits=[
            h.commit(when=h.at("2026-03-01", 10)),
            h.commit(when=h.at("2026-03-01", 20)),
            h.commit(when=h.at("2026-03-02", 9)),
            h.commit(when=h.at("2026-03-03", 9)),
        ],
        deployments=[
            h.deployment(when=h.at("2026-03-02", 10)),
            h.deployment(when=h.at("2026-03-04", 9)),
        ],
    )
    # 24 h, 14 h, 1 h (first deployment), 24 h (second): median of 1, 14, 24, 24 = 19
    assert value(f, "lead_time_hours") == 19
    assert sample(f, "lead_time_hours") == 4


def test_lead_time_is_unknown_with_commits_but_no_production_deployment() -> None:
    f = h.frames(commits=[h.commit()], deployments=[h.deployment(environment="staging")])
    assert unknown(value(f, "lead_time_hours"))


def test_squash_merge_lead_time_starts_at_the_pull_requests_first_commit() -> None:
    squash = h.sha("squash")
    f = h.frames(
        commits=[h.commit(when=h.at("2026-03-05", 10), sha=squash)],
        pull_requests=[
            h.pull_request(
                first_commit_at=h.at("2026-03-01", 10),
                merged_at=h.at("2026-03-05", 10),
                merge_commit_sha=squash,
            )
        ],
        deployments=[h.deployment(when=h.at("2026-03-05", 12))],
    )
    assert value(f, "lead_time_hours") == 4 * 24 + 2


def test_lead_time_uses_the_deployment_of_exactly_that_commit_when_it_came_first() -> None:
    c = h.sha("exact")
    f = h.frames(
        commits=[h.commit(when=h.at("2026-03-01", 10), sha=c, repository_id=1)],
        deployments=[
            h.deployment(when=h.at("2026-03-01", 11), commit_sha=c, repository_id=2),
            h.deployment(when=h.at("2026-03-01", 15), repository_id=1),
        ],
    )
    assert value(f, "lead_time_hours") == 1


def test_lead_time_matches_deployments_of_the_same_repository() -> None:
    f = h.frames(
        commits=[h.commit(when=h.at("2026-03-01", 10), repository_id=7)],
        deployments=[
            h.deployment(when=h.at("2026-03-01", 12), repository_id=8),
            h.deployment(when=h.at("2026-03-02", 10), repository_id=7),
        ],
    )
    assert value(f, "lead_time_hours") == 24


# --- DORA: change failure rate, rework, time to restore -------------------------------------


def test_change_failure_rate_of_a_window_with_only_failures_is_one() -> None:
    f = h.frames(deployments=[h.deployment(status="failed"), h.deployment(status="failure")])
    assert value(f, "change_failure_rate") == 1.0
    assert value(f, "deployment_frequency") == 0.0


def test_a_rollback_marks_the_deployment_before_it_failed_and_is_not_a_change() -> None:
    f = h.frames(
        deployments=[
            h.deployment(when=h.at("2026-03-01", 10)),
            h.deployment(when=h.at("2026-03-01", 11), is_rollback=True),
            h.deployment(when=h.at("2026-03-03", 10)),
            h.deployment(when=h.at("2026-03-04", 10)),
        ]
    )
    assert value(f, "change_failure_rate") == pytest.approx(1 / 3)
    assert value(f, "rework_rate") == pytest.approx(1 / 4)


def test_a_hotfix_of_another_service_does_not_mark_a_failure() -> None:
    f = h.frames(
        deployments=[
            h.deployment(when=h.at("2026-03-01", 10), service="api"),
            h.deployment(when=h.at("2026-03-01", 11), service="web", is_hotfix=True),
        ]
    )
    assert value(f, "change_failure_rate") == 0.0
    assert value(f, "rework_rate") == 0.5


def test_incident_is_attributed_within_the_configured_window_only() -> None:
    deps = [h.deployment(when=h.at("2026-03-01", 10))]
    near = h.frames(deployments=deps, issues=[h.issue(created=h.at("2026-03-02", 10))])
    far = h.frames(deployments=deps, issues=[h.issue(created=h.at("2026-03-06", 10))])
    assert value(near, "change_failure_rate") == 1.0
    assert value(far, "change_failure_rate") == 0.0
    short = RulesConfig(incident_attribution_hours=12)
    assert value(near, "change_failure_rate", rules=short) == 0.0


def test_incident_goes_to_the_latest_deployment_of_its_service_by_default() -> None:
    f = h.frames(
        deployments=[
            h.deployment(when=h.at("2026-03-01", 10), service="api"),
            h.deployment(when=h.at("2026-03-02", 12), service="web"),
        ],
        issues=[h.issue(created=h.at("2026-03-02", 13), service="api")],
    )
    ends = [dt.date(2026, 3, 1), dt.date(2026, 3, 8)]  # one deployment in each 7-day window

    def cfr(rules: RulesConfig) -> list[float]:
        out = run(f, ends=ends, window_days=7, rules=rules)
        return list(out[out["metric"] == "change_failure_rate"].sort_values("period_end")["value"])

    assert cfr(RulesConfig()) == [1.0, 0.0]  # the api deployment failed
    assert cfr(RulesConfig(incident_attribution="latest_before")) == [0.0, 1.0]


def test_incident_naming_a_deployment_is_attributed_to_it() -> None:
    f = h.frames(
        deployments=[
            h.deployment(when=h.at("2026-02-01", 10), external_id="dep-7"),
            h.deployment(when=h.at("2026-03-01", 12)),
        ],
        issues=[h.issue(created=h.at("2026-03-05", 13), deployment_ref="dep-7")],
    )
    assert value(f, "change_failure_rate") == 0.5


def test_time_to_restore_is_the_median_over_incidents_resolved_in_the_window() -> None:
    f = h.frames(
        issues=[
            h.issue(created=h.at("2026-03-01", 10), resolved_at=h.at("2026-03-01", 11)),
            h.issue(created=h.at("2026-03-01", 10), resolved_at=h.at("2026-03-01", 13)),
            h.issue(created=h.at("2026-03-01", 10), resolved_at=h.at("2026-03-02", 10)),
            h.issue(created=h.at("2026-03-01", 10)),  # unresolved: not in the sample
            h.issue(
                created=h.at("2026-03-01", 10),
                resolved_at=h.at("2026-03-01", 20),
                is_incident=False,
            ),
        ]
    )
    assert value(f, "time_to_restore_hours") == 3
    assert sample(f, "time_to_restore_hours") == 3


def test_time_to_restore_is_unknown_without_incidents() -> None:
    assert unknown(value(h.frames(deployments=[h.deployment()]), "time_to_restore_hours"))


@pytest.mark.parametrize(
    ("metric", "val", "expected"),
    [
        ("deployment_frequency", 10.0, "elite"),
        ("deployment_frequency", 7.0, "high"),  # daily is "daily to weekly" (DORA 2024)
        ("deployment_frequency", 2.0, "high"),
        ("deployment_frequency", 0.5, "medium"),
        ("deployment_frequency", 0.1, "low"),
        ("lead_time_hours", 5.0, "elite"),
        ("lead_time_hours", 48.0, "high"),
        ("lead_time_hours", 24.0 * 20, "medium"),
        ("lead_time_hours", 24.0 * 60, "low"),
        ("change_failure_rate", 0.05, "elite"),
        ("change_failure_rate", 0.15, "high"),
        ("change_failure_rate", 0.30, "medium"),
        ("change_failure_rate", 0.50, "low"),
        ("time_to_restore_hours", 0.5, "elite"),
        ("time_to_restore_hours", 5.0, "high"),
        ("time_to_restore_hours", 48.0, "medium"),
        ("time_to_restore_hours", 24.0 * 10, "low"),
        ("time_to_restore_hours", float("nan"), "unknown"),
    ],
)
def test_dora_tiers_follow_the_2024_report(metric: str, val: float, expected: str) -> None:
    assert metrics.tier(metric, val) == expected
    assert metrics.tiers(metric, pd.Series([val])).iloc[0] == expected


# --- source control -------------------------------------------------------------------------


def test_commit_shares_count_non_merge_commits_only() -> None:
    f = h.frames(
        commits=[
            h.commit(test_files=2, has_issue_key=True),
            h.commit(infra_files=1),
            h.commit(ci_files=1, docs_files=1),
            h.commit(),
            h.commit(is_merge=True, test_files=5, has_issue_key=True),
        ]
    )
    assert value(f, "commits") == 5
    assert value(f, "test_change_share") == 0.25
    assert value(f, "infra_change_share") == 0.25
    assert value(f, "ci_change_share") == 0.25
    assert value(f, "docs_change_share") == 0.25
    assert value(f, "issue_key_share") == 0.25


def test_active_repositories_count_distinct_repositories_in_the_window() -> None:
    f = h.frames(
        commits=[
            h.commit(repository_id=1),
            h.commit(repository_id=1),
            h.commit(repository_id=2),
            h.commit(repository_id=3, when=h.at("2025-01-01")),
        ]
    )
    assert value(f, "active_repositories") == 2


def test_review_rate_and_pull_request_lifetime() -> None:
    f = h.frames(
        pull_requests=[
            h.pull_request(created_at=h.at("2026-03-01", 0), merged_at=h.at("2026-03-01", 10)),
            h.pull_request(
                created_at=h.at("2026-03-01", 0),
                first_commit_at=h.at("2026-02-28", 0),
                merged_at=h.at("2026-03-02", 0),
                reviewed=False,
            ),
            h.pull_request(created_at=h.at("2026-03-01", 0), merged_at=None),  # open: not counted
        ]
    )
    assert value(f, "review_rate") == 0.5
    assert value(f, "pr_lifetime_hours") == (10 + 48) / 2


def test_integration_days_count_distinct_days_on_the_default_branch() -> None:
    f = h.frames(
        commits=[
            h.commit(when=h.at("2026-03-01", 9)),
            h.commit(when=h.at("2026-03-01", 15)),
            h.commit(when=h.at("2026-03-02")),
            h.commit(when=h.at("2026-03-03"), on_default_branch=False),
        ]
    )
    assert value(f, "integration_days_per_week") == pytest.approx(2 / WEEKS)


def test_ci_coverage_is_the_share_of_default_branch_commits_built() -> None:
    built = h.sha("built")
    f = h.frames(
        commits=[h.commit(sha=built), h.commit(), h.commit(on_default_branch=False)],
        builds=[h.build(commit_sha=built)],
    )
    assert value(f, "ci_coverage") == 0.5


def test_tags_on_the_default_branch_and_automated_tagging() -> None:
    auto = h.sha("auto")
    f = h.frames(
        commits=[h.commit()],
        tags=[
            h.tag(sha=auto, at=h.at("2026-03-02", 12)),
            h.tag(sha=h.sha("hand"), at=h.at("2026-03-02", 12)),
            h.tag(sha=h.sha("branch"), on_default_branch=False),
        ],
        builds=[
            h.build(commit_sha=auto, when=h.at("2026-03-02", 11)),
            h.build(commit_sha=h.sha("hand"), when=h.at("2026-03-02", 13)),
        ],
    )
    assert value(f, "default_branch_tags") == 2
    assert value(f, "automated_tag_share") == 0.5


# --- build & test ---------------------------------------------------------------------------


def test_build_metrics_exclude_aborted_builds_from_the_success_rate() -> None:
    f = h.frames(
        builds=[
            h.build(result="SUCCESS", tests_total=10, has_lint=True),
            h.build(result="failure", tests_total=0),
            h.build(result="aborted"),
            h.build(result=None),
        ]
    )
    assert value(f, "builds") == 4
    assert value(f, "build_success_rate") == 0.5
    assert value(f, "test_reporting_share") == 0.5
    assert value(f, "lint_share") == 0.25


def test_build_metrics_are_unknown_without_builds() -> None:
    f = h.frames(commits=[h.commit()])
    for metric in ("builds", "build_success_rate", "test_reporting_share", "lint_share"):
        assert unknown(value(f, metric)), metric


# --- environments and deployment ------------------------------------------------------------


def test_environment_tiers_come_from_the_configured_globs() -> None:
    names = pd.Series(["prod-eu", "Staging", "qa1", "dev", "perf", None])
    assert list(metrics.environment_tier(names, EnvironmentsConfig())) == [
        "production",
        "staging",
        "qa",
        "development",
        "other",
        "other",
    ]
    custom = EnvironmentsConfig(production=["perf"])
    assert metrics.environment_tier(names, custom).iloc[4] == "production"


def test_environment_metrics() -> None:
    f = h.frames(
        deployments=[
            h.deployment(environment="dev", version="1", when=h.at("2026-03-01", 8)),
            h.deployment(environment="qa", version="1", when=h.at("2026-03-01", 9)),
            h.deployment(environment="staging", version="1", when=h.at("2026-03-01", 10)),
            h.deployment(
                environment="production",
                version="1",
                when=h.at("2026-03-01", 11),
                trigger="automated",
            ),
            h.deployment(
                environment="production", version="2", when=h.at("2026-03-02", 11), trigger="manual"
            ),
            h.deployment(environment="qa", version="2", when=h.at("2026-03-03", 11)),
            h.deployment(environment="production", version=None, when=h.at("2026-03-04", 11)),
        ]
    )
    assert value(f, "environments_deployed") == 4
    assert value(f, "qa_deployments") == 2
    assert value(f, "staging_deployments") == 1
    assert value(f, "production_deployments") == 3
    # version 1 went dev/qa/staging first; version 2 reached qa only after production
    assert value(f, "staged_production_share") == pytest.approx(1 / 3)
    assert value(f, "promoted_version_share") == pytest.approx(1 / 3)
    assert value(f, "versioned_deployment_share") == pytest.approx(6 / 7)
    assert value(f, "automated_deployment_share") == 0.5
    assert value(f, "automated_production_share") == 0.5


# --- reporting ------------------------------------------------------------------------------


def test_sources_integrated_and_freshness() -> None:
    f = h.frames(
        commits=[h.commit(when=h.at("2026-03-06"))],
        builds=[h.build(when=h.at("2026-03-01"))],
        issues=[
            h.issue(created=h.at("2026-01-01"), updated_at=h.at("2026-03-07"), is_incident=False)
        ],
    )
    assert value(f, "sources_integrated") == 3
    assert value(f, "freshness_git_days") == 2
    assert value(f, "freshness_ci_days") == 7
    assert value(f, "freshness_tracker_days") == 1
    assert unknown(value(f, "freshness_deploy_days"))
    assert value(f, "max_freshness_days") == 7
