"""The demo's delivery history: valid events, and teams that deliver differently."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

from collectors import events
from maturity import demo_delivery


@dataclass
class Repo:
    team: str
    repository: str
    default_commits: list[tuple[str, str]]
    tags: list[tuple[str, str, str]] = field(default_factory=list)
    merges: list[tuple[str, str, str]] = field(default_factory=list)
    branch_commits: list[tuple[str, str]] = field(default_factory=list)
    default_branch: str = "main"


def _repo(team: str, weeks: int = 20, per_week: int = 5) -> Repo:
    start = dt.datetime(2026, 1, 5, 9, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    commits = [
        (f"{team[:2].encode().hex()}{i:036x}", (start + dt.timedelta(hours=30 * i)).isoformat())
        for i in range(weeks * per_week)
    ]
    # every third commit merges a branch whose first commit was a day and a half earlier
    merges = [
        (sha, at, (dt.datetime.fromisoformat(at) - dt.timedelta(hours=36)).isoformat())
        for sha, at in commits[3::3]
    ]
    branch_commits = [
        (f"b{sha[1:]}", (dt.datetime.fromisoformat(at) - dt.timedelta(hours=36)).isoformat())
        for sha, at in commits[3::3]
    ]
    return Repo(
        team,
        f"{team}-svc",
        commits,
        tags=[("v1.0.0", commits[10][0], commits[10][1])],
        merges=merges,
        branch_commits=branch_commits,
    )


def _events(tmp_path: Path) -> list[dict[str, object]]:
    repos = [_repo(team) for team in demo_delivery.DELIVERY]
    path = tmp_path / "events.jsonl"
    count = demo_delivery.write_events(repos, path, seed=7)
    lines = path.read_text().splitlines()
    assert count == len(lines)
    return [json.loads(line) for line in lines]


def test_every_demo_event_passes_the_ingest_validation(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    demo_delivery.write_events([_repo(t) for t in demo_delivery.DELIVERY], path, seed=7)
    parsed = events.parse_lines(path.read_bytes().splitlines())
    assert parsed.invalid == []
    assert len(parsed.events) > 500


def test_teams_deliver_at_different_cadences(tmp_path: Path) -> None:
    prod: dict[str, int] = {}
    builds: dict[str, int] = {}
    for e in _events(tmp_path):
        name = str(e.get("service") or e.get("pipeline"))
        if e["kind"] == "deployment" and e["environment"] == "production":
            prod[name] = prod.get(name, 0) + 1
        if e["kind"] == "build":
            builds[name] = builds.get(name, 0) + 1
    assert prod["payments-svc"] > prod["search-svc"] > prod["data-svc"] > prod["mobile-svc"] > 0
    assert "mobile-svc" not in builds  # the mobile team has no CI


def test_released_commits_passed_their_build_and_staging_comes_first(tmp_path: Path) -> None:
    evs = _events(tmp_path)
    green = {e["commit_sha"] for e in evs if e["kind"] == "build" and e["result"] == "success"}
    staged: dict[object, object] = {}
    for e in evs:
        if e["kind"] != "deployment" or e["service"] != "payments-svc":
            continue
        assert e["commit_sha"] in green
        if e["environment"] == "staging":
            staged[e["commit_sha"]] = e["started_at"]
        if e["environment"] == "production":
            assert str(staged[e["commit_sha"]]) < str(e["started_at"])


def test_incidents_point_at_a_production_deployment_of_their_service(tmp_path: Path) -> None:
    evs = _events(tmp_path)
    deployments = {(e["service"], e["id"]) for e in evs if e["kind"] == "deployment"}
    incidents = [e for e in evs if e["kind"] == "incident"]
    assert incidents
    for inc in incidents:
        assert (inc["service"], inc["deployment"]) in deployments
        assert str(inc["resolved_at"]) > str(inc["started_at"])


def test_same_seed_same_events(tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    repos = [_repo(t) for t in demo_delivery.DELIVERY]
    demo_delivery.write_events(repos, a, seed=3)
    demo_delivery.write_events(repos, b, seed=3)
    assert a.read_bytes() == b.read_bytes()


def test_merged_branches_become_pull_requests_reviewed_at_each_teams_share(
    tmp_path: Path,
) -> None:
    prs: dict[str, list[dict[str, object]]] = {}
    for e in _events(tmp_path):
        if e["kind"] == "pull_request":
            prs.setdefault(str(e["repository"]), []).append(e)
    merges = _repo("payments").merges
    assert [p["merge_commit_sha"] for p in prs["payments-svc"]] == [m[0] for m in merges]
    for p in prs["payments-svc"]:
        assert str(p["first_commit_at"]) <= str(p["created_at"]) <= str(p["merged_at"])

    def reviewed(repo: str) -> float:
        return sum("first_review_at" in p for p in prs[repo]) / len(prs[repo])

    assert reviewed("payments-svc") > 0.85 > reviewed("platform-svc") > reviewed("data-svc")
    assert reviewed("mobile-svc") == 0.0


def test_branch_commits_are_built_by_teams_with_ci(tmp_path: Path) -> None:
    built: dict[str, set[str]] = {}
    for e in _events(tmp_path):
        if e["kind"] == "build" and e["branch"] == "feature":
            built.setdefault(str(e["pipeline"]), set()).add(str(e["commit_sha"]))
    on_branches = {sha for sha, _ in _repo("payments").branch_commits}
    assert built["payments-svc"] == on_branches
    assert "mobile-svc" not in built  # the mobile team has no CI
