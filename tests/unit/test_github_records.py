"""GitHub payloads (recorded from the real API) become the right rows; failures are classified."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from github import GithubException

from collectors.base import MalformedRecord
from collectors.github import client, records

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "github"


def body(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))["body"]


def test_recorded_fixtures_keep_their_source_and_license() -> None:
    for path in FIXTURES.glob("*.json"):
        envelope = json.loads(path.read_text(encoding="utf-8"))
        assert envelope["source"]["project"] and envelope["source"]["license"], path.name


def test_closed_pull_request_from_the_list_keeps_merge_facts() -> None:
    raw = body("GET_repos_openmicroscopy_ome-documentation_pulls_state-closed_page1.json")[0]
    row = records.pull_request_rest(raw, [])
    assert row["number"] == raw["number"]
    assert row["head_sha"] == raw["head"]["sha"]
    assert row["base_branch"] == raw["base"]["ref"]
    assert row["state"] == ("merged" if raw["merged_at"] else "closed")
    assert row["merge_commit_sha"] == (raw["merge_commit_sha"] if raw["merged_at"] else None)
    assert row["created_at"].tzinfo is not None
    assert row["review_count"] == 0 and row["first_review_at"] is None


def test_reviews_give_first_review_and_approval_excluding_the_author() -> None:
    reviews = body("GET_repos_PyGithub_PyGithub_pulls_538_reviews.json")
    pull = body("GET_repos_openmicroscopy_ome-documentation_pulls_state-closed_page1.json")[0]
    author = reviews[0]["user"]["login"]
    row = records.pull_request_rest({**pull, "user": {"login": "someone-else"}}, reviews)
    submitted = sorted(r["submitted_at"] for r in reviews if r["state"] != "PENDING")
    assert row["review_count"] == len(submitted)
    assert row["first_review_at"] == records.when(submitted[0], "x")
    approved = [r for r in reviews if r["state"] == "APPROVED"]
    assert row["approval_count"] == len({r["user"]["login"] for r in approved})
    own = records.pull_request_rest({**pull, "user": {"login": author}}, reviews)
    assert own["review_count"] == len([r for r in reviews if r["user"]["login"] != author])


def test_old_issue_payloads_with_null_pull_request_urls_are_issues() -> None:
    raw = body("GET_repos_PyGithub_PyGithub_issues_page1.json")[0]
    assert raw["pull_request"] == {"patch_url": None, "diff_url": None, "html_url": None}
    row = records.issue(raw, incident_labels=["question"])
    assert row is not None
    assert row["key"] == f"#{raw['number']}"
    assert row["is_incident"] is True  # label "Question", matched case-insensitively
    assert json.loads(row["labels"]) == [label["name"] for label in raw["labels"]]


def test_pull_requests_in_the_issue_list_are_skipped() -> None:
    raw = body("GET_repos_PyGithub_PyGithub_issues_page1.json")[0]
    pull = {**raw, "pull_request": {"url": "https://api.github.com/repos/o/r/pulls/1"}}
    assert records.issue(pull, incident_labels=[]) is None
    plain = {k: v for k, v in raw.items() if k != "pull_request"}
    assert records.issue(plain, incident_labels=[]) is not None


def test_workflow_run_maps_conclusion_and_duration() -> None:
    raw = body("GET_repos_PyGithub_PyGithub_actions_runs_page1.json")["workflow_runs"][0]
    row = records.workflow_run(raw)
    assert row["external_id"] == str(raw["id"])
    assert row["number"] == raw["run_number"]
    assert row["commit_sha"] == raw["head_sha"]
    assert row["result"] == records.RUN_RESULTS[raw["conclusion"]]
    expected = records.when(raw["updated_at"], "u") - records.when(raw["created_at"], "c")
    assert row["duration_s"] == expected.total_seconds()
    running = records.workflow_run({**raw, "status": "in_progress", "conclusion": None})
    assert running["result"] == "running" and running["duration_s"] is None


def test_deployment_status_comes_from_the_latest_meaningful_status() -> None:
    raw = body("GET_repos_PyGithub_PyGithub_deployments_page1.json")[0]
    statuses = body("GET_repos_jacquev6_PyGithub_deployments_263877258_statuses_page1.json")
    row = records.deployment(
        raw, statuses, automation_logins=[], hotfix_patterns=[], rollback_patterns=[]
    )
    latest = max(statuses, key=lambda s: s["created_at"])
    assert row["status"] == records.DEPLOYMENT_STATES[latest["state"]]
    assert row["environment"] == raw["environment"]
    assert row["trigger"] == "manual"  # created by a person (type User)
    late = {**latest, "id": 1, "state": "inactive", "created_at": "2030-01-01T00:00:00Z"}
    again = records.deployment(
        raw, [*statuses, late], automation_logins=[], hotfix_patterns=[], rollback_patterns=[]
    )
    assert again["status"] == row["status"]


@pytest.mark.parametrize(
    ("change", "trigger"),
    [
        ({"creator": {"login": "github-actions[bot]", "type": "Bot"}}, "automated"),
        ({"performed_via_github_app": {"slug": "argo"}}, "automated"),
        ({"creator": {"login": "deploy-robot", "type": "User"}}, "automated"),
        ({"creator": {"login": "alice", "type": "User"}}, "manual"),
    ],
)
def test_deployment_trigger_is_automated_for_bots_apps_and_configured_logins(
    change: dict[str, Any], trigger: str
) -> None:
    raw = {**body("GET_repos_PyGithub_PyGithub_deployments_page1.json")[0], **change}
    row = records.deployment(
        raw, [], automation_logins=["deploy-*"], hotfix_patterns=[], rollback_patterns=[]
    )
    assert row["trigger"] == trigger


def test_missing_timestamp_is_a_malformed_record_with_a_reason() -> None:
    raw = body("GET_repos_PyGithub_PyGithub_actions_runs_page1.json")["workflow_runs"][0]
    with pytest.raises(MalformedRecord, match=r"not a timestamp: .yesterday"):
        records.workflow_run({**raw, "run_started_at": None, "created_at": "yesterday"})


def test_tag_and_commit_from_recorded_lists() -> None:
    tag = body("GET_repos_PyGithub_PyGithub_tags_page1.json")[0]
    assert records.tag(tag) == {"name": tag["name"], "sha": tag["commit"]["sha"]}
    raw = body("GET_repos_PyGithub_PyGithub_commits_page1.json")[0]
    row = records.commit(raw)
    assert row["sha"] == raw["sha"]
    assert row["is_merge"] is (len(raw["parents"]) > 1)
    assert row["subject"] == raw["commit"]["message"].split("\n")[0]


def test_commits_keep_their_parents_for_lead_time_by_content() -> None:
    for raw in body("GET_repos_PyGithub_PyGithub_commits_page1.json"):
        parents = [p["sha"] for p in raw["parents"]]
        assert parents and all(len(p) == 40 for p in parents)
        assert records.commit(raw)["parents"] == " ".join(parents)


def test_link_header_parses_next_and_last() -> None:
    header = (
        '<https://api.github.com/repositories/3544490/releases?per_page=10&page=2>; rel="next", '
        '<https://api.github.com/repositories/3544490/releases?per_page=10&page=3>; rel="last"'
    )
    links = client.parse_link(header)
    assert links["next"].endswith("page=2") and links["last"].endswith("page=3")


def _gh(status: int, message: str, headers: dict[str, str] | None = None) -> GithubException:
    return GithubException(status, {"message": message}, headers or {})


def test_server_errors_timeouts_and_resets_are_retried() -> None:
    assert client.classify(_gh(502, "Bad Gateway")) is not None
    assert client.classify(requests.exceptions.ReadTimeout()) is not None
    assert client.classify(requests.exceptions.ConnectionError()) is not None
    assert client.classify(json.JSONDecodeError("cut", "[{", 2)) is not None


def test_auth_and_not_found_fail_at_once() -> None:
    assert client.classify(_gh(401, "Bad credentials")) is None
    assert client.classify(_gh(403, "Resource not accessible by integration")) is None
    assert client.classify(_gh(404, "Not Found")) is None


def test_rate_limits_wait_for_the_server_advice() -> None:
    reset = time.time() + 30
    primary = client.classify(
        _gh(
            403,
            "API rate limit exceeded",
            {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)},
        )
    )
    assert primary is not None and primary.rate_limited
    assert primary.wait_s is not None and 29 <= primary.wait_s <= 32
    exact = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset + 60)}
    margin = client.classify(_gh(403, "API rate limit exceeded", exact), reset_margin_s=0.0)
    assert margin is not None and margin.wait_s is not None and 89 <= margin.wait_s <= 90
    secondary = client.classify(
        _gh(403, "You have exceeded a secondary rate limit.", {"Retry-After": "7"})
    )
    assert secondary is not None and secondary.wait_s == 7
    too_many = client.classify(_gh(429, "Too Many Requests", {"Retry-After": "2"}))
    assert too_many is not None and too_many.wait_s == 2


def test_failure_message_names_source_scope_and_variable_but_not_the_token() -> None:
    from collectors.github.config import GitHubConfig as GitHubSource

    source = GitHubSource(base_url="https://ghe.example.com/api/v3", token_env="GHE_TOKEN")
    text = client.describe(
        _gh(401, "Bad credentials"), scope="acme/api", what="repository", source=source
    )
    assert text.startswith("github acme/api: repository: 401 Bad credentials")
    assert "$GHE_TOKEN" in text and "ghe.example.com" in text


def test_timestamps_are_utc_aware() -> None:
    assert records.when("2026-01-02T03:04:05Z", "x") == dt.datetime(
        2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC
    )


def test_unreadable_cursor_means_a_full_read_not_a_crash() -> None:
    from collectors.github.streams import CursorState

    assert CursorState.load("not json") == CursorState()
    assert CursorState.load('["a list"]') == CursorState()
    state = CursorState(since="2026-01-01T00:00:00Z", etag='W/"x"', at=["1", "2"])
    assert CursorState.load(state.dump()) == state


def test_a_rate_limit_wait_is_announced_however_short() -> None:
    from collectors import retry

    calls = iter([retry.RetryableError("rate limited (403)", wait_s=1.0, rate_limited=True)])
    told: list[str] = []
    slept: list[float] = []

    def flaky() -> str:
        for exc in calls:
            raise exc
        return "ok"

    result = retry.call(
        flaky,
        classify=lambda e: e if isinstance(e, retry.RetryableError) else None,
        sleep=slept.append,
        on_wait=told.append,
        what="github acme/api runs",
    )
    assert result == "ok" and slept == [1.0]
    assert told and "rate limited (403)" in told[0]


def test_the_reset_margin_is_a_setting_with_the_old_one_second_as_its_default() -> None:
    from collectors.base import NoProgress
    from collectors.github.config import GitHubConfig as GitHubSource

    default = client.GitHubClient(GitHubSource(), None, progress=NoProgress())
    assert default.policy.reset_margin_s == 1.0
    set_ = GitHubSource(rate_limit_reset_margin_s=0.05)
    assert client.GitHubClient(set_, None, progress=NoProgress()).policy.reset_margin_s == 0.05
