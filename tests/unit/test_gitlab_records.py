"""GitLab payloads (the recorded and documented ones in tests/fixtures/gitlab) into rows, the
``[sources.gitlab]`` settings and team key, and GitLab's rate-limit headers in the retry policy."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from collectors import retry
from collectors.base import MalformedRecord
from collectors.gitlab import records
from maturity import config as config_mod

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "gitlab"
UTC = dt.UTC


def body(name: str) -> object:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))["body"]


def test_every_fixture_names_its_source_and_license() -> None:
    for path in FIXTURES.glob("*.json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        assert data["source"]["project"] and data["source"]["license"], path.name
        assert data["request"]["path"].startswith("/"), path.name


def test_recorded_gitlab_com_merge_request_becomes_an_open_pull_request() -> None:
    raw = body("GET_projects_id_merge_requests.json")[0]
    row = records.merge_request(raw, None, None, hotfix_labels=["hotfix"])
    assert (row["number"], row["external_id"], row["state"]) == (15442, "35385049", "open")
    assert row["author_login"] == "hfyngvason"
    assert (row["base_branch"], row["head_branch"]) == (
        "master",
        "use-structured-logging-for-db-load-balancer",
    )
    assert row["head_sha"] == "2fc4e8b972ff3208ec63b6143e34ad67ff343ad7"
    assert row["merge_commit_sha"] is None and row["merged_at"] is None
    assert row["created_at"] == dt.datetime(2019, 8, 20, 10, 58, 54, 413000, tzinfo=UTC)
    assert json.loads(row["labels"])[0] == "backend" and row["is_hotfix"] is False
    assert row["review_count"] == 0 and row["commits_count"] is None  # not read


def test_documented_approvals_count_as_reviews_but_never_the_authors_own() -> None:
    approvals = body("GET_projects_id_merge_requests_iid_approvals.json")
    mr = {**body("GET_projects_id_merge_requests.json")[0], "merged_at": "2019-08-21T10:00:00Z"}
    row = records.merge_request(mr, approvals, [], hotfix_labels=[])
    assert row["state"] == "merged" and row["approval_count"] == 1
    assert row["reviews"][0]["reviewer_login"] == "root"
    assert row["first_review_at"] is None  # the documented shape says who, not when
    mine = {**mr, "author": {"username": "root"}}
    assert records.merge_request(mine, approvals, [], hotfix_labels=[])["approval_count"] == 0


def test_merged_merge_request_lands_as_squash_else_merge_else_head_commit() -> None:
    mr = body("GET_projects_id_merge_requests.json")[0]
    base = {**mr, "merged_at": "2019-08-21T10:00:00Z", "state": "merged"}
    assert records.merge_request(base, None, None)["merge_commit_sha"] == mr["sha"]
    merged = {**base, "merge_commit_sha": "m" * 40}
    assert records.merge_request(merged, None, None)["merge_commit_sha"] == "m" * 40
    squashed = {**merged, "squash_commit_sha": "s" * 40}
    assert records.merge_request(squashed, None, None)["merge_commit_sha"] == "s" * 40


def test_first_commit_is_the_earliest_authored_commit_of_the_merge_request() -> None:
    commit = body("GET_projects_id_repository_commits.json")[0]
    later = {**commit, "authored_date": "2016-12-13T09:00:00.000+01:00"}
    mr = {**body("GET_projects_id_merge_requests.json")[0], "merged_at": "2019-08-21T10:00:00Z"}
    row = records.merge_request(mr, None, [later, commit])
    assert row["first_commit_at"] == dt.datetime(2016, 12, 12, 19, 10, 39, tzinfo=UTC)
    assert row["commits_count"] == 2


def test_documented_commit_keeps_its_offset_and_parents() -> None:
    row = records.commit(body("GET_projects_id_repository_commits.json")[0])
    assert row["sha"] == "8b090c1b79a14f2bd9e8a738f717824ff53aebad"
    assert row["parents"] == "a738f717824ff53aebad8b090c1b79a14f2bd9e8"
    assert row["author_tz_offset"] == 60 and row["is_merge"] is False
    assert row["subject"] == "Feature added"
    assert row["author_identity"] == "dmitriy.zaporozhets@gmail.com"


def test_documented_pipeline_still_pending_is_a_running_build_without_duration() -> None:
    row = records.pipeline(body("GET_projects_id_pipelines.json")[0])
    assert (row["external_id"], row["number"], row["result"]) == ("47", 12, "running")
    assert (row["job"], row["event"], row["branch"]) == ("Build pipeline", "push", "new-pipeline")
    assert row["duration_s"] is None


def test_finished_pipeline_lasts_from_creation_to_its_last_update() -> None:
    raw = {**body("GET_projects_id_pipelines.json")[0], "status": "failed"}
    row = records.pipeline(raw)
    assert row["result"] == "failure" and row["duration_s"] == pytest.approx(241.084)


def test_documented_jobs_tell_lint_and_junit_reports() -> None:
    first, second = body("GET_projects_id_jobs.json")
    job = records.job(first, ["*lint*"])
    assert job == {"id": 7, "pipeline_id": 6, "finished": True, "lint": False, "junit": True}
    assert records.job({**second, "name": "eslint"}, ["*lint*"])["lint"] is True
    assert records.job({**second, "status": "running"}, [])["finished"] is False


def test_documented_test_report_summary_counts_errors_as_failures() -> None:
    summary = body("GET_projects_id_pipelines_id_test_report_summary.json")
    assert records.test_summary(summary) == {
        "tests_total": 3363,
        "tests_failed": 0,
        "tests_skipped": 12,
    }


def test_documented_deployment_has_its_environment_status_and_version() -> None:
    raw = body("GET_projects_id_deployments.json")[0]
    row = records.deployment(raw, automation_logins=[], hotfix_patterns=[], rollback_patterns=[])
    assert (row["external_id"], row["environment"], row["version"]) == ("41", "production", "main")
    assert row["commit_sha"] == "99d03678b90d914dbb1b109132516d71a4a03ea8"
    assert row["status"] == "running" and row["finished_at"] is None  # "created"
    assert row["trigger"] == "automated" and row["build_ref"] == "job 657"
    done = records.deployment(
        {**raw, "status": "success"}, automation_logins=[], hotfix_patterns=[],
        rollback_patterns=[],
    )  # fmt: skip
    assert done["status"] == "success"
    assert done["finished_at"] == dt.datetime(2016, 8, 11, 7, 36, 39, 851000, tzinfo=UTC)


def test_deployment_made_through_the_api_has_an_unknown_trigger_unless_a_bot_made_it() -> None:
    raw = {**body("GET_projects_id_deployments.json")[0], "deployable": None}
    kw = {"hotfix_patterns": [], "rollback_patterns": []}
    assert records.deployment(raw, automation_logins=[], **kw)["trigger"] is None
    assert records.deployment(raw, automation_logins=["root"], **kw)["trigger"] == "automated"
    bot = {**raw, "user": {"username": "project_6_bot"}}
    assert records.deployment(bot, automation_logins=[], **kw)["trigger"] == "automated"


def test_incident_by_gitlab_issue_type_or_by_label() -> None:
    raw = body("GET_projects_id_issues.json")[0]
    plain = records.issue(raw, incident_labels=["incident"])
    assert (plain["key"], plain["issue_type"], plain["is_incident"]) == ("#6", "issue", False)
    assert plain["status_category"] == "new" and plain["resolved_at"] is None
    typed = records.issue({**raw, "issue_type": "incident"}, incident_labels=[])
    assert typed["is_incident"] is True
    labelled = records.issue({**raw, "labels": ["Incident", "p1"]}, incident_labels=["incident"])
    assert labelled["is_incident"] is True
    old = {k: v for k, v in raw.items() if k != "issue_type"} | {"type": "INCIDENT"}
    assert records.issue(old, incident_labels=[])["is_incident"] is True


def test_record_without_what_a_row_needs_is_malformed_with_a_reason() -> None:
    with pytest.raises(MalformedRecord, match="created_at is not a timestamp"):
        records.pipeline({**body("GET_projects_id_pipelines.json")[0], "created_at": "soon"})
    with pytest.raises(MalformedRecord, match="without an environment"):
        records.deployment(
            {**body("GET_projects_id_deployments.json")[0], "environment": None},
            automation_logins=[], hotfix_patterns=[], rollback_patterns=[],
        )  # fmt: skip


def test_documented_project_tells_its_path_branch_and_features() -> None:
    info = records.project(body("GET_groups_id_projects.json")[0])
    assert info["path"] == "h5bp/html5-boilerplate" and info["default_branch"] == "master"
    assert info["jobs"] and info["issues"] and info["merge_requests"]
    off = records.project(
        {**body("GET_groups_id_projects.json")[0], "builds_access_level": "disabled"}
    )
    assert off["jobs"] is False


# --- GitLab's rate-limit headers ----------------------------------------------------------


def test_retry_after_of_a_documented_429_is_the_wait() -> None:
    headers = json.loads((FIXTURES / "ERROR_429.json").read_text())["headers"]
    assert retry.wait_from_headers(headers, now=1609844000.0) == 30.0


def test_spent_ratelimit_budget_waits_until_its_reset_epoch() -> None:
    headers = {"RateLimit-Remaining": "0", "RateLimit-Reset": "1609844400"}
    assert retry.wait_from_headers(headers, now=1609844390.0) == pytest.approx(11.0)
    # the 1 s margin is the default of a setting (rate_limit_reset_margin_s)
    margin = retry.wait_from_headers(headers, now=1609844390.0, reset_margin_s=0.05)
    assert margin == pytest.approx(10.05)
    assert retry.wait_from_headers({**headers, "RateLimit-Remaining": "5"}) is None


# --- configuration ------------------------------------------------------------------------


def parse(text: str) -> config_mod.Config:
    return config_mod.parse(text, source=Path("maturity.toml"))


def test_gitlab_section_and_team_key_validate() -> None:
    cfg = parse(
        '[sources.gitlab]\nurl = "https://gitlab.example.com/gitlab"\n'
        '[[teams]]\nname = "payments"\ngitlab = ["acme/payments/*", "acme/api"]\n'
    )
    assert cfg.teams[0].owns("gitlab") == ["acme/payments/*", "acme/api"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[teams]]\nname = "p"\ngitlab = ["api"]', "teams[0].gitlab: Value error, expected"),
        ('[sources.gitlab]\nurl = "https://gitlab.com/api/v4"', "without /api/v4"),
        ('[sources.gitlab]\nurl = "https://me:pw@gitlab.com"', "must not contain credentials"),
        ('[sources.gitlab]\ntoken = "glpat-x"', "sources.gitlab.token: unknown key"),
    ],
)
def test_bad_gitlab_settings_are_one_clear_line(text: str, message: str) -> None:
    with pytest.raises(config_mod.ConfigError, match=r"maturity\.toml") as err:
        parse(text)
    assert message in str(err.value)
    assert "pw@" not in str(err.value) and "glpat-x" not in str(err.value)


def test_the_reset_margin_is_a_setting_with_the_old_one_second_as_its_default() -> None:
    from collectors.base import NoProgress
    from collectors.gitlab.client import GitLabClient
    from collectors.gitlab.config import GitLabConfig

    default = GitLabClient(GitLabConfig(), None, progress=NoProgress())
    assert default.policy.reset_margin_s == 1.0
    set_ = GitLabConfig(rate_limit_reset_margin_s=0.05)
    assert GitLabClient(set_, None, progress=NoProgress()).policy.reset_margin_s == 0.05
