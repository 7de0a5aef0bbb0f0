"""Property: over random small histories, every week's stored snapshot and metric rows are the
same whether the week is scored alone, in one backfill, in backfills of other lengths and chunk
sizes, or through the web action (real SQLite stores on disk)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from maturity import model as model_mod
from maturity import pipeline, snapshots, survey_batches, surveys
from maturity.context import AppContext
from maturity.store import scores, tables
from maturity.store.engine import session_scope
from tests import history as h
from tests.integration.test_actions import ADMIN, AS_ADMIN, wait_done
from tests.webstore import client, make_context

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,  # about 15 s: many examples, each scored twice
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]
MODEL = model_mod.load(None)
WEEKS = 5
WINDOW = 14
#: the web action scores this week and the ones before it: histories are placed around them
TODAY = dt.datetime.now(dt.UTC).date()
ENDS = snapshots.period_ends(None, WEEKS - 1, today=TODAY)
START = dt.datetime.combine(ENDS[0], dt.time(), dt.UTC) - dt.timedelta(days=WINDOW + 100)
SPAN_HOURS = int((dt.datetime.combine(ENDS[-1], dt.time(), dt.UTC) - START).total_seconds()) // 3600
SPAN_HOURS += 24 * 5
#: the instants where a read range starts or ends: period ends, window starts, and 90 days and
#: 72 hours around them; histories crowd their records near these edges
EDGES = sorted(
    {
        int((dt.datetime.combine(day, dt.time(), dt.UTC) - START).total_seconds()) // 3600 + shift
        for end in ENDS
        for day in (end + dt.timedelta(days=1), end - dt.timedelta(days=WINDOW - 1))
        for shift in (0, -24 * 90, -72, 72, -24)
    }
)

hours = st.one_of(
    st.integers(0, SPAN_HOURS),
    st.builds(lambda e, d: max(0, e + d), st.sampled_from(EDGES), st.integers(-30, 30)),
)


def at(hour: int) -> dt.datetime:
    return START + dt.timedelta(hours=hour)


commit_st = st.fixed_dictionaries(
    {
        "team": st.integers(0, 1),
        "hour": hours,
        "authored_before": st.sampled_from([0, 0, 3, 48]),
        "default": st.sampled_from([True, True, True, False]),
    }
)
deployment_st = st.fixed_dictionaries(
    {
        "team": st.integers(0, 1),
        "hour": hours,
        "minutes": st.sampled_from([0, 10, 300]),
        "status": st.sampled_from(["success", "success", "failed"]),
        "environment": st.sampled_from(["production", "production", "staging"]),
        "flag": st.sampled_from([None, None, None, "rollback", "hotfix"]),
        "commit": st.none() | st.integers(0, 30),
        "version": st.sampled_from([None, "v1", "v2"]),
        "by_repo": st.booleans(),
        "service": st.sampled_from(["api", "web"]),
    }
)
incident_st = st.fixed_dictionaries(
    {
        "team": st.integers(0, 1),
        "hour": hours,
        "resolved_after": st.none() | st.integers(1, 400),
        "service": st.sampled_from([None, "api", "web"]),
        "ref": st.none() | st.integers(0, 30) | st.sampled_from(["v1", "v2"]),
        "incident": st.sampled_from([True, True, False]),
        "updated": st.none() | hours,
    }
)
build_st = st.fixed_dictionaries(
    {
        "team": st.integers(0, 1),
        "hour": hours,
        "result": st.sampled_from(["success", "failure", "aborted"]),
        "commit": st.none() | st.integers(0, 30),
    }
)
pull_st = st.fixed_dictionaries(
    {
        "commit": st.integers(0, 30),
        "merged_shift": st.integers(-30, 30),
        "first_before": st.integers(0, 500),
    }
)
tag_st = st.fixed_dictionaries({"commit": st.integers(0, 30), "after": st.integers(-5, 48)})
survey_st = st.fixed_dictionaries(
    {"team": st.integers(0, 1), "hour": hours, "value": st.integers(1, 5)}
)
history_st = st.fixed_dictionaries(
    {
        "commits": st.lists(commit_st, max_size=14),
        "deployments": st.lists(deployment_st, max_size=12),
        "incidents": st.lists(incident_st, max_size=6),
        "builds": st.lists(build_st, max_size=8),
        "pulls": st.lists(pull_st, max_size=4),
        "tags": st.lists(tag_st, max_size=3),
        "surveys": st.lists(survey_st, max_size=1),
    }
)


def write_history(context: AppContext, story: dict[str, Any]) -> None:
    """The story's records in the store, for the teams payments and search."""
    with session_scope(context.sessions) as s:
        ids = dict(s.query(tables.Team.name, tables.Team.id).all())
        teams = [ids["payments"], ids["search"]]
        hist = h.StoreHistory(s)
        repos = [hist.repository(t, f"repo{i}") for i, t in enumerate(teams)]
        commits = []
        for n, c in enumerate(story["commits"]):
            when = at(c["hour"])
            commits.append(
                {
                    **h.commit(
                        teams[c["team"]],
                        when,
                        sha=h.sha(f"commit{n}"),
                        authored_at=when - dt.timedelta(hours=c["authored_before"]),
                        on_default_branch=c["default"],
                    ),
                    "repository_id": repos[c["team"]],
                }
            )
        for team in (0, 1):
            mine = [c for c in commits if c["repository_id"] == repos[team]]
            if mine:
                hist.commits(repos[team], mine)

        def sha_of(index: int | None) -> str | None:
            return commits[index]["sha"] if index is not None and index < len(commits) else None

        deployments = []
        for n, d in enumerate(story["deployments"]):
            team = d["team"]
            started = at(d["hour"])
            deployments.append(
                h.deployment(
                    teams[team],
                    started,
                    external_id=f"dep{n}",
                    finished_at=started + dt.timedelta(minutes=d["minutes"]),
                    status=d["status"],
                    environment=d["environment"],
                    is_rollback=d["flag"] == "rollback",
                    is_hotfix=d["flag"] == "hotfix",
                    commit_sha=sha_of(d["commit"]),
                    version=d["version"],
                    repository_id=repos[team] if d["by_repo"] else None,
                    service=f"{['payments', 'search'][team]}-{d['service']}",
                )
            )
        hist.deployments(deployments)
        issues = []
        for i in story["incidents"]:
            created = at(i["hour"])
            ref = i["ref"]
            issues.append(
                h.issue(
                    teams[i["team"]],
                    created,
                    resolved_at=None
                    if i["resolved_after"] is None
                    else created + dt.timedelta(hours=i["resolved_after"]),
                    updated_at=None if i["updated"] is None else at(i["updated"]),
                    is_incident=i["incident"],
                    service=None
                    if i["service"] is None
                    else f"{['payments', 'search'][i['team']]}-{i['service']}",
                    deployment_ref=f"dep{ref}" if isinstance(ref, int) else ref,
                )
            )
        hist.issues(issues)
        hist.builds(
            [
                h.build(
                    teams[b["team"]],
                    at(b["hour"]),
                    result=b["result"],
                    commit_sha=sha_of(b["commit"]),
                )
                for b in story["builds"]
            ]
        )
        for p in story["pulls"]:
            if p["commit"] >= len(commits):
                continue
            c = commits[p["commit"]]
            team = repos.index(c["repository_id"])
            merged = c["committed_at"] + dt.timedelta(hours=p["merged_shift"])
            hist.pull_requests(
                c["repository_id"],
                [
                    h.pull_request(
                        teams[team],
                        created_at=merged - dt.timedelta(hours=p["first_before"] + 1),
                        first_commit_at=merged - dt.timedelta(hours=p["first_before"]),
                        merged_at=merged,
                        merge_commit_sha=c["sha"],
                    )
                ],
            )
        for t in story["tags"]:
            if t["commit"] >= len(commits):
                continue
            c = commits[t["commit"]]
            hist.tags(
                c["repository_id"],
                [
                    {
                        "sha": c["sha"],
                        "at": c["committed_at"] + dt.timedelta(hours=t["after"]),
                        "on_default_branch": True,
                    }
                ],
            )
    questions = surveys.questions_for_model(MODEL)
    for q in story["surveys"]:
        opened = at(q["hour"]).date()
        with session_scope(context.sessions) as s:
            made = surveys.open_round(
                s,
                team_id=teams[q["team"]],
                questions=questions,
                links=5,
                model_version="t",
                today=opened,
            )
        sheets = [(tok, {qq.id: q["value"] for qq in questions}, None) for tok in made.tokens]
        survey_batches.write_answers(context.sessions, made.public_id, sheets, today=opened)


def stored(context: AppContext) -> tuple[list[Any], list[Any]]:
    """Every snapshot and metric value row, without when they were computed."""
    with session_scope(context.sessions) as s:
        snaps = scores.list_snapshots(s)
        values = scores.metric_series(s)

    def plain(value: Any) -> Any:
        if isinstance(value, float) and value != value:
            return None
        return value

    snap_rows = sorted(
        (
            int(r.team_id),
            r.dimension,
            r.period_end,
            int(r.level),
            float(r.score),
            float(r.coverage),
            json.dumps(r.evidence, sort_keys=True),
            r.model_version,
        )
        for r in snaps.itertuples()
    )
    value_rows = sorted(
        (
            int(r.team_id),
            r.metric,
            r.period_end,
            int(r.window_days),
            plain(None if r.value is None else float(r.value)),
            int(r.sample_size),
        )
        for r in values.itertuples()
    )
    return snap_rows, value_rows


def differ(got: tuple[list[Any], list[Any]], want: tuple[list[Any], list[Any]]) -> str:
    """The metric rows that differ (and how many snapshot rows do), for the failure message."""
    extra = sorted(set(got[1]) - set(want[1]))[:6]
    missing = sorted(set(want[1]) - set(got[1]))[:6]
    snaps = len(set(got[0]) ^ set(want[0]))
    return f"{snaps} snapshot rows differ; metric rows got {extra}, want {missing}"


@settings(
    max_examples=10,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    story=history_st,
    chunk=st.integers(1, WEEKS - 1),
    length=st.integers(1, WEEKS - 1),
)
def test_every_week_stores_the_same_rows_however_it_is_scored(
    sqlite_template: Path, story: dict[str, Any], chunk: int, length: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "maturity.db"
        shutil.copy(sqlite_template, path)
        context = make_context(
            Path(tmp), f"sqlite:///{path}", extra=f"\n[settings]\nwindow_days = {WINDOW}\n"
        )
        try:
            write_history(context, story)
            cfg, sessions = context.config, context.sessions

            def score(**kw: Any) -> tuple[list[Any], list[Any]]:
                pipeline.score(sessions, cfg, MODEL, today=TODAY, **kw)
                return stored(context)

            for end in ENDS:
                alone = score(week=end, backfill=0)
            assert len(alone[0]) == 2 * len(MODEL.dimensions) * WEEKS
            got = score(backfill=WEEKS - 1)
            assert got == alone, f"one backfill: {differ(got, alone)}"
            got = score(backfill=WEEKS - 1, chunk_weeks=chunk)
            assert got == alone, f"chunks of {chunk}: {differ(got, alone)}"
            # a shorter backfill, ending on an earlier week, rewrites only its own weeks
            got = score(week=ENDS[length - 1], backfill=length - 1)
            assert got == alone, f"a backfill of {length} weeks: {differ(got, alone)}"
            c = client(context, admin_token=ADMIN)
            started = c.post(f"/api/v1/actions/score?backfill={WEEKS - 1}", headers=AS_ADMIN)
            assert wait_done(c, started.json()["id"])["status"] == "success"
            got = stored(context)
            assert got == alone, f"the web action: {differ(got, alone)}"
        finally:
            context.close()
