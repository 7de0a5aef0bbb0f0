"""The score API and pages over snapshots that pipeline.score wrote, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import shutil
import warnings
from collections.abc import Iterator

import pytest

from maturity import metrics
from maturity.context import AppContext
from maturity.store import scores
from tests import scoredstore, webstore
from tests.conftest import drop_postgres_store, new_postgres_store
from tests.webstore import client

with warnings.catch_warnings():
    warnings.simplefilter("ignore")

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

VIEWER = "viewer-token-0123456789abcdef"
TEAMS = 5  # payments and search from the configuration, alpha, beta, gamma
DIMENSIONS = ["source_control", "environments", "build_test", "deployment", "reporting"]


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def context(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AppContext]:
    """One scored store per backend for this module: every test here only reads it."""
    tmp = tmp_path_factory.mktemp("scored")
    name = None
    if request.param == "sqlite":
        shutil.copy(request.getfixturevalue("sqlite_template"), tmp / "maturity.db")
        url = f"sqlite:///{tmp / 'maturity.db'}"
    else:
        url, name = new_postgres_store(request.getfixturevalue("postgres_template"))
    ctx = webstore.make_context(tmp, url)
    scoredstore.seed_scored(ctx, weeks=6, hostile=True)
    yield ctx
    ctx.close()
    if name is not None:
        drop_postgres_store(name)


def stored_latest(context: AppContext) -> dict[tuple[str, str], tuple[int, float]]:
    with context.sessions() as session:
        frame = scores.latest_snapshots(session)
    return {
        (str(r.team), str(r.dimension)): (int(r.level), float(r.score)) for r in frame.itertuples()
    }


def test_levels_are_the_newest_stored_snapshot_of_every_team_and_dimension(
    context: AppContext,
) -> None:
    body = client(context).get("/api/v1/levels").json()
    got = {(r["team"], r["dimension"]): (r["level"], r["score"]) for r in body}
    assert got == stored_latest(context)
    assert len(got) == TEAMS * len(DIMENSIONS)
    assert {r["period_end"] for r in body} == {scoredstore.WEEK.isoformat()}


def test_levels_as_csv_hold_the_same_rows(context: AppContext) -> None:
    resp = client(context).get("/api/v1/levels?format=csv")
    assert resp.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(resp.text)))
    assert {(r["team"], r["dimension"]) for r in rows} == set(stored_latest(context))


def test_levels_up_to_a_date_show_the_snapshot_of_that_week(context: AppContext) -> None:
    earlier = "2026-11-08"
    body = client(context).get(f"/api/v1/levels?to={earlier}").json()
    assert {r["period_end"] for r in body} == {earlier}


def test_team_levels_carry_the_stored_evidence_and_next_steps(context: AppContext) -> None:
    body = client(context).get("/api/v1/teams/alpha/levels").json()
    assert body["team"] == "alpha"
    assert [lv["dimension"] for lv in body["levels"]] == DIMENSIONS
    with context.sessions() as session:
        snaps = scores.latest_snapshots(session)
    stored = snaps[snaps["team"] == "alpha"].set_index("dimension")["evidence"]
    for lv in body["levels"]:
        evidence = stored[lv["dimension"]]
        assert [c["id"] for c in lv["criteria"]] == [c["id"] for c in evidence["criteria"]]
        assert [c["verdict"] for c in lv["criteria"]] == [
            c["verdict"] for c in evidence["criteria"]
        ]
        assert lv["next_steps"] == evidence["next_steps"]
        with_metric = [c for c in lv["criteria"] if c["metric"]]
        assert with_metric and all(c["records"] for c in with_metric)
        assert all(c["description"] for c in lv["criteria"])


def test_snapshots_filter_by_team_dimension_and_period(context: AppContext) -> None:
    c = client(context)
    body = c.get(
        "/api/v1/snapshots?team=beta&dimension=deployment&from=2026-11-01&to=2026-11-15"
    ).json()
    assert [r["period_end"] for r in body] == ["2026-11-01", "2026-11-08", "2026-11-15"]
    assert {(r["slug"], r["dimension"]) for r in body} == {("beta", "deployment")}
    everything = c.get("/api/v1/snapshots").json()
    assert len(everything) == TEAMS * len(DIMENSIONS) * 6
    assert c.get("/api/v1/snapshots?team=beta&format=csv").text.count("\r\n") == 1 + 30


def test_metrics_come_with_their_dora_tier_and_unknown_stays_null(context: AppContext) -> None:
    c = client(context)
    body = c.get("/api/v1/metrics?team=alpha&metric=lead_time_hours").json()
    assert len(body) == 6
    for row in body:
        assert row["tier"] == metrics.tier("lead_time_hours", row["value"])
    other = c.get("/api/v1/metrics?team=alpha&metric=commits").json()
    assert {r["tier"] for r in other} == {None}
    with context.sessions() as session:
        stored = scores.metric_series(session, metrics=["review_rate"])
    assert stored["value"].isna().all()  # no pull requests: unknown, not zero
    assert {r["value"] for r in c.get("/api/v1/metrics?metric=review_rate").json()} == {None}


def test_model_lists_every_dimension_level_and_criterion(context: AppContext) -> None:
    body = client(context).get("/api/v1/model").json()
    assert [d["id"] for d in body["dimensions"]] == DIMENSIONS
    assert all(len(d["levels"]) == 5 for d in body["dimensions"])
    crit = [c for d in body["dimensions"] for lv in d["levels"] for c in lv["criteria"]]
    assert crit and all(c["check"] or c["question"] for c in crit)


def test_a_dimension_across_teams_counts_levels_and_unmet_criteria(context: AppContext) -> None:
    body = client(context).get("/api/v1/dimensions/build_test").json()
    levels = {t: lv for (t, d), (lv, _) in stored_latest(context).items() if d == "build_test"}
    assert {t["team"]: t["level"] for t in body["teams"]} == levels
    assert sum(body["distribution"].values()) == TEAMS
    unmet = body["most_unmet"]
    assert unmet == sorted(unmet, key=lambda u: (-u["unmet"], u["level"]))
    assert all(1 <= u["unmet"] <= TEAMS for u in unmet)


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/teams/nobody/levels",
        "/api/v1/dimensions/nothing",
        "/api/v1/snapshots?team=nobody",
        "/api/v1/snapshots?dimension=nothing",
        "/api/v1/metrics?metric=nothing",
        "/api/v1/metrics?team=nobody",
        "/teams/nobody",
        "/dimensions/nothing",
    ],
)
def test_an_unknown_team_dimension_or_metric_is_a_404(context: AppContext, url: str) -> None:
    assert client(context).get(url).status_code == 404


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/snapshots?from=yesterday",
        "/api/v1/snapshots?from=2026-11-20&to=2026-11-01",
        "/api/v1/metrics?to=2026-13-01",
        "/api/v1/levels?format=xml",
        "/overview?from=not-a-date",
        "/teams/alpha?from=2026-11-20&to=2026-11-01",
    ],
)
def test_a_bad_parameter_is_a_422(context: AppContext, url: str) -> None:
    assert client(context).get(url).status_code == 422


def test_score_endpoints_need_the_viewer_token_when_one_is_set(context: AppContext) -> None:
    c = client(context, viewer_token=VIEWER)
    for url in ["/api/v1/levels", "/api/v1/model", "/api/v1/teams/alpha/levels"]:
        assert c.get(url).status_code == 401
        ok = c.get(url, headers={"Authorization": f"Bearer {VIEWER}"})
        assert ok.status_code == 200


def test_pages_show_levels_and_escape_a_hostile_team_name(context: AppContext) -> None:
    c = client(context)
    for url in ["/overview", "/teams/gamma", "/dimensions/deployment", "/api/v1/levels"]:
        resp = c.get(url)
        assert resp.status_code == 200
        if url.startswith("/api"):
            continue
        assert "<img src=x onerror" not in resp.text
        assert "<script>window.__xss" not in resp.text
    overview = c.get("/overview").text
    assert 'href="/teams/alpha"' in overview and "&lt;img src=x onerror=alert(1)&gt;" in overview
    team = c.get("/teams/alpha").text
    assert 'href="/teams/alpha/surveys"' in team
    for fmt in ("html", "md", "pdf"):
        assert f'href="/teams/alpha/report?format={fmt}"' in team
    assert "Next steps" in team


def test_the_overview_with_a_period_shows_that_period(context: AppContext) -> None:
    text = client(context).get("/overview?from=2026-11-01&to=2026-11-08").text
    assert 'value="2026-11-01"' in text and 'value="2026-11-08"' in text
    assert "Weeks 2026-11-01 to 2026-11-08" in text
