"""Monorepos: path rules give the parts of one git repository to different teams, and a rule
changed in the configuration re-attributes history at the next scoring, without collecting."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

import collectors
from collectors import events
from collectors.base import CollectContext
from maturity import attribution, config, model, pipeline, teams
from maturity.store import tables
from maturity.store.engine import session_scope
from tests.clirun import run_maturity
from tests.gitrepo import GitRepo

pytestmark = pytest.mark.integration

UTC = dt.UTC
WEEK_END = dt.date(2026, 10, 11)  # the Sunday after every event below


def at(repo: GitRepo, day: int, hour: int) -> None:
    """The next commit is made on 2026-10-``day`` at ``hour``:00 UTC (GitRepo ticks 7 hours)."""
    repo.clock = dt.datetime(2026, 10, day, hour, tzinfo=UTC) - dt.timedelta(hours=7)


def lines(n: int, word: str) -> str:
    return "".join(f"{word} {i}\n" for i in range(n))


def build_monorepo(path: Path) -> dict[str, str]:
    """Commits touching one team, both, none, and a merge that brings in one team's files."""
    repo = GitRepo(path)
    shas: dict[str, str] = {}
    at(repo, 5, 10)
    shas["c1"] = repo.commit("payments api", {"services/payments/api.py": lines(10, "pay")})
    at(repo, 5, 12)
    shas["c2"] = repo.commit("search index", {"services/search/index.py": lines(4, "idx")})
    at(repo, 6, 10)
    shas["c3"] = repo.commit(
        "both teams",
        {
            "services/payments/api.py": lines(13, "pay"),  # 3 lines added
            "services/payments/db.py": lines(2, "db"),  # 2 lines added
            "services/search/index.py": lines(5, "idx"),  # 1 line added
        },
    )
    at(repo, 6, 14)
    shas["c4"] = repo.commit(
        "shared library", {"libs/common/util.py": lines(5, "lib"), "README.md": "# mono\n"}
    )
    at(repo, 7, 8)
    shas["c5"] = repo.commit("docs", {"docs/guide.md": lines(2, "doc")})
    repo.checkout("feature/query", new=True)
    at(repo, 7, 12)
    shas["c6"] = repo.commit("search query", {"services/search/query.py": lines(6, "q")})
    repo.checkout("main")
    at(repo, 7, 14)  # a merge ticks 7 hours too
    shas["merge"] = repo.merge("feature/query", "Merge feature/query")
    return shas


def make_config(mono: Path, payments: list[str], search: list[str]) -> config.Config:
    return config.Config.model_validate(
        {
            "teams": [
                {
                    "name": "payments",
                    "repositories": [{"location": str(mono), "paths": payments}],
                    "services": ["payments-*"],
                },
                {
                    "name": "search",
                    "repositories": [{"location": str(mono), "paths": search}],
                    "services": ["search-*"],
                },
            ]
        }
    )


def deployment(ident: str, service: str, sha: str, day: int, hour: int) -> dict[str, Any]:
    when = dt.datetime(2026, 10, day, hour, tzinfo=UTC).isoformat()
    return {
        "kind": "deployment",
        "id": ident,
        "service": service,
        "environment": "production",
        "commit_sha": sha,
        "started_at": when,
        "finished_at": when,
        "status": "success",
    }


def build(ident: str, sha: str) -> dict[str, Any]:
    return {
        "kind": "build",
        "id": ident,
        "pipeline": "mono-ci",
        "commit_sha": sha,
        "result": "success",
        "started_at": "2026-10-07T09:00:00+00:00",
    }


def pull_request(number: int, merge_sha: str, reviews: int) -> dict[str, Any]:
    return {
        "kind": "pull_request",
        "id": f"pr-{number}",
        "repository": "mono",
        "number": number,
        "state": "merged",
        "created_at": "2026-10-05T08:00:00+00:00",
        "merged_at": "2026-10-06T10:00:00+00:00",
        "merge_commit_sha": merge_sha,
        "reviews": reviews,
    }


def collect(sessions: sessionmaker[Session], cfg: config.Config, shas: dict[str, str]) -> None:
    with session_scope(sessions) as session:
        teams.sync(session, cfg)
    results = collectors.collector("git")(CollectContext(config=cfg, sessions=sessions))
    assert [r.status for r in results] == ["success"]
    parsed = events.parse_objects(
        [
            # payments deploys the head of the day: c4, a commit of no team
            deployment("p1", "payments-api", shas["c4"], 6, 16),
            deployment("s1", "search-api", shas["c5"], 7, 10),
            deployment("s2", "search-api", shas["merge"], 8, 10),
            pull_request(1, shas["c1"], reviews=1),  # payments only, reviewed
            # builds and a deployment whose pipeline or service no team owns follow their
            # commit: to the team with the largest share of its lines
            build("b1", shas["c3"]),  # payments 5 of 6 lines
            build("b2", shas["c2"]),  # search
            build("b3", shas["c4"]),  # no team's
            {**deployment("m1", "mono-deploy", shas["c1"], 5, 11), "environment": "staging"},
            pull_request(2, shas["c3"], reviews=0),  # both teams, not reviewed
        ]
    )
    assert not parsed.invalid
    events.ingest(sessions, parsed, scope="test")


def values(sessions: sessionmaker[Session]) -> dict[tuple[str, str], float | None]:
    with session_scope(sessions) as session:
        rows = session.execute(
            select(tables.Team.name, tables.MetricValue.metric, tables.MetricValue.value)
            .join(tables.Team, tables.Team.id == tables.MetricValue.team_id)
            .where(tables.MetricValue.period_end == WEEK_END)
        ).all()
    return {(team, metric): value for team, metric, value in rows}


@pytest.fixture
def monorepo(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    path = tmp_path / "mono"
    return path, build_monorepo(path)


def test_commits_pull_requests_and_lead_times_per_team(
    sessions: sessionmaker[Session], monorepo: tuple[Path, dict[str, str]]
) -> None:
    mono, shas = monorepo
    cfg = make_config(mono, ["services/payments/**"], ["services/search"])
    collect(sessions, cfg, shas)
    pipeline.score(sessions, cfg, model.load(), week=WEEK_END, today=WEEK_END)
    got = values(sessions)
    # payments: c1 and c3; search: c2, c3, c6 and the merge that brought c6 in; c4 and c5
    # touch no team's paths and count for nobody
    assert got[("payments", "commits")] == 2
    assert got[("search", "commits")] == 4
    # lead time, from the author time of each default-branch change to the end of its own
    # team's next production deployment (merges are not changes):
    #   payments: c1 10-05 10:00 -> p1 10-06 16:00 = 30 h; c3 10-06 10:00 -> p1 = 6 h
    #             median (30 + 6) / 2 = 18 h (c3, with two payments files, counted twice
    #             would give 6 h)
    #   search:   c2 10-05 12:00 -> s1 10-07 10:00 = 46 h; c3 10-06 10:00 -> s1 = 24 h;
    #             c6 10-07 12:00 -> s2 10-08 10:00 = 22 h; median 24 h
    assert got[("payments", "lead_time_hours")] == pytest.approx(18.0)
    assert got[("search", "lead_time_hours")] == pytest.approx(24.0)
    # pull requests follow the commit they were merged as: #1 (c1, reviewed) is payments',
    # #2 (c3, not reviewed) is both teams': payments 1 of 2 reviewed, search 0 of 1
    assert got[("payments", "review_rate")] == pytest.approx(0.5)
    assert got[("search", "review_rate")] == pytest.approx(0.0)
    # unowned builds: b1 (c3) is payments', b2 (c2) search's, b3 (c4) nobody's
    assert got[("payments", "builds")] == 1
    assert got[("search", "builds")] == 1
    # the unowned staging deployment of c1 is payments'
    assert got[("payments", "staging_deployments")] == 1
    assert got[("search", "staging_deployments")] == 0
    # the shared repository is no one team's whole
    with session_scope(sessions) as session:
        owner = session.scalar(
            select(tables.Repository.team_id).where(tables.Repository.name == "mono")
        )
        listed = set(
            session.execute(
                select(tables.Team.name, tables.Ownership.source, tables.Ownership.pattern).join(
                    tables.Team, tables.Team.id == tables.Ownership.team_id
                )
            ).all()
        )
    assert owner is None
    # what each team owns, as the pages list it: its part of the monorepo
    assert {row for row in listed if row[1] == teams.PATHS} == {
        ("payments", "paths", "mono:services/payments/**"),
        ("search", "paths", "mono:services/search"),
    }


def test_commit_teams_keep_each_teams_share_of_lines(
    sessions: sessionmaker[Session], monorepo: tuple[Path, dict[str, str]]
) -> None:
    mono, shas = monorepo
    cfg = make_config(mono, ["services/payments/**"], ["services/search/**"])
    collect(sessions, cfg, shas)
    with session_scope(sessions) as session:
        rules = attribution.split_repositories(session, cfg)
        ids = dict(session.execute(select(tables.Team.name, tables.Team.id)).all())
        found = attribution.commit_teams(session, rules)
    name = {v: k for k, v in ids.items()}
    sha_name = {v: k for k, v in shas.items()}
    got = {
        (sha_name[sha], name[team]): (lines_, share)
        for sha, team, lines_, share in found[["sha", "team_id", "lines", "share"]].itertuples(
            index=False
        )
    }
    assert got == {
        ("c1", "payments"): (10, 1.0),
        ("c2", "search"): (4, 1.0),
        # c3: 3 + 2 payments lines (two files, one row) and 1 search line, of 6
        ("c3", "payments"): (5, pytest.approx(5 / 6)),
        ("c3", "search"): (1, pytest.approx(1 / 6)),
        ("c6", "search"): (6, 1.0),
        # the merge brought in c6's 6 lines (its difference from its first parent)
        ("merge", "search"): (6, 1.0),
    }


def test_changed_rules_reattribute_without_collecting(
    sessions: sessionmaker[Session],
    monorepo: tuple[Path, dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mono, shas = monorepo
    collect(sessions, make_config(mono, ["services/payments/**"], ["services/search/**"]), shas)
    with session_scope(sessions) as session:
        runs = session.scalar(select(func.count()).select_from(tables.CollectorRun))

    def no_collection(*args: object, **kwargs: object) -> None:
        raise AssertionError("scoring must not collect")

    from collectors import runner
    from collectors.git import streams

    monkeypatch.setattr(runner, "collect_source", no_collection)
    monkeypatch.setattr(streams, "collect_repository", no_collection)
    # payments now owns the shared library as well (and README.md is still nobody's)
    cfg = make_config(mono, ["services/payments/**", "libs/**"], ["services/search/**"])
    pipeline.score(sessions, cfg, model.load(), week=WEEK_END, today=WEEK_END)
    got = values(sessions)
    # payments: c1, c3 and now c4
    assert got[("payments", "commits")] == 3
    assert got[("search", "commits")] == 4
    # payments lead times: c1 30 h, c3 6 h, c4 10-06 14:00 -> p1 10-06 16:00 = 2 h; median 6 h
    assert got[("payments", "lead_time_hours")] == pytest.approx(6.0)
    with session_scope(sessions) as session:
        assert session.scalar(select(func.count()).select_from(tables.CollectorRun)) == runs


def test_a_bad_path_glob_stops_the_command_with_one_line(tmp_path: Path) -> None:
    cfg = tmp_path / "maturity.toml"
    cfg.write_text(
        '[[teams]]\nname = "payments"\n'
        'repositories = [{ location = "mono", paths = ["services/[payments"] }]\n'
    )
    proc = run_maturity(cfg, "score")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: {cfg}:3: teams[0].repositories[0].paths: Value error, "
        "path glob 'services/[payments' has a '[' without its ']'"
    ]
    assert not (tmp_path / "maturity.db").exists()


def test_a_store_from_before_commit_files_gets_them_at_the_next_collection(
    store_url: str, monorepo: tuple[Path, dict[str, str]]
) -> None:
    from alembic import command

    from maturity.store import engine as engine_mod
    from maturity.store import migrate

    mono, shas = monorepo
    cfg = make_config(mono, ["services/payments/**"], ["services/search/**"])

    def count(model: type[tables.Base]) -> int:
        eng = engine_mod.make_engine(store_url)
        with session_scope(engine_mod.make_sessionmaker(eng)) as session:
            n = session.scalar(select(func.count()).select_from(model)) or 0
        eng.dispose()
        return n

    eng = engine_mod.make_engine(store_url)
    sessions = engine_mod.make_sessionmaker(eng)
    collect(sessions, cfg, shas)
    eng.dispose()
    # c1 1 file, c2 1, c3 3, c4 2, c5 1, c6 1, the merge 1: 10
    assert count(tables.CommitFile) == 10
    # back to the revision before commit files: the commits stay, their files are gone
    command.downgrade(migrate.alembic_config(store_url), "0003")
    migrate.upgrade(store_url)
    assert count(tables.CommitFile) == 0
    assert count(tables.Commit) == 7
    eng = engine_mod.make_engine(store_url)
    sessions = engine_mod.make_sessionmaker(eng)
    results = collectors.collector("git")(CollectContext(config=cfg, sessions=sessions))
    eng.dispose()
    assert [r.status for r in results] == ["success"]
    assert count(tables.CommitFile) == 10
    assert count(tables.Commit) == 7


def test_a_deployment_of_the_shared_repository_ships_only_its_teams_changes(
    sessions: sessionmaker[Session], monorepo: tuple[Path, dict[str, str]]
) -> None:
    from maturity.store import write

    mono, shas = monorepo
    cfg = make_config(mono, ["services/payments/**"], ["services/search/**"])
    collect(sessions, cfg, shas)
    with session_scope(sessions) as session:
        ids = dict(session.execute(select(tables.Team.name, tables.Team.id)).all())
        repo = session.scalar(select(tables.Repository.id).where(tables.Repository.name == "mono"))
        # a payments deployment that names the shared repository (as a code host's would)
        when = dt.datetime(2026, 10, 5, 13, tzinfo=UTC)
        row = {
            "source": "test",
            "scope": "payments-api",
            "external_id": "p0",
            "team_id": ids["payments"],
            "repository_id": repo,
            "service": "payments-api",
            "environment": "production",
            "commit_sha": shas["c1"],
            "started_at": when,
            "finished_at": when,
            "status": "success",
        }
        write.upsert(session, tables.Deployment, [row], key=["source", "scope", "external_id"])
    pipeline.score(sessions, cfg, model.load(), week=WEEK_END, today=WEEK_END)
    got = values(sessions)
    # payments: c1 10-05 10:00 -> p0 10-05 13:00 = 3 h; c3 -> p1 = 6 h; median 4.5 h
    assert got[("payments", "lead_time_hours")] == pytest.approx(4.5)
    # search is not shipped by payments' deployment of the same repository: c2 -> s1 46 h,
    # c3 -> s1 24 h, c6 -> s2 22 h; median 24 h (c2 shipped by p0 would give 1 h, median 22 h)
    assert got[("search", "lead_time_hours")] == pytest.approx(24.0)
