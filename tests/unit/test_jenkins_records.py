"""Jenkins build payloads (recorded ones) become the right builds and deployments rows."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest

from collectors.base import MalformedRecord
from collectors.jenkins import records, select_jobs
from collectors.jenkins.config import JenkinsConfig as JenkinsSource
from collectors.jenkins.config import JenkinsDeployRule
from maturity.config import RulesConfig
from tests.servers.jenkins import load_fixture, parse_tree, prune

SOURCE = JenkinsSource(url="http://jenkins.example.com")
RULES = RulesConfig()


def normalize(raw: Any, job: str = "folder/pipeline", **kwargs: Any) -> records.BuildRecord:
    source = kwargs.pop("source", SOURCE)
    return records.normalize_build(raw, job=records.Job(job, **kwargs), source=source, rules=RULES)


def test_old_jenkins_build_gives_sha_branch_tests_and_manual_trigger() -> None:
    raw = load_fixture("GET_job_rdhanoa_test_project_110_api_json")
    rec = normalize(raw, "rdhanoa_test_project")
    row = rec.build
    assert row["commit_sha"] == "77d6dac84c6e70dfae72e92fe3cc83ab53d0e28d"
    assert row["branch"] == "master"
    assert (row["tests_total"], row["tests_failed"], row["tests_skipped"]) == (1, 0, 0)
    assert row["result"] == "success"
    assert row["event"] == "user"
    assert row["external_id"] == "110" and row["number"] == 110
    assert row["started_at"] == dt.datetime.fromtimestamp(1429053438.085, dt.UTC)
    assert row["duration_s"] == pytest.approx(89.688)
    assert row["parameters"] == {
        "buildStartedBy": "rupinder dhanoa",
        "originatedFrom": "Production",
    }
    assert rec.deployment is None


def test_pipeline_build_without_build_data_takes_the_commit_of_its_change_set() -> None:
    raw = load_fixture("GET_job_fish_10_api_json")
    row = normalize(raw, "fish").build
    assert row["commit_sha"] == "d27afa0805201322d846d7defc29b82c88d9b5ce"
    assert row["branch"] is None
    assert row["tests_total"] is None  # no test report published: unknown, not zero


def test_recorded_workflow_run_failure_with_parameters_and_user_cause() -> None:
    raw = load_fixture("GET_job_folder_job_pipeline_52_api_json")
    row = normalize(raw).build
    assert row["result"] == "failure"
    assert row["parameters"] == {"parameter1": "value1", "parameter2": "value2"}
    assert row["event"] == "user"
    assert row["commit_sha"] is None


@pytest.mark.parametrize(
    ("result", "building", "expected"),
    [
        ("SUCCESS", False, "success"),
        ("FAILURE", False, "failure"),
        ("UNSTABLE", False, "unstable"),
        ("ABORTED", False, "aborted"),
        (None, True, "running"),
    ],
)
def test_results_are_lower_case_and_running_has_no_duration(
    result: str | None, building: bool, expected: str
) -> None:
    raw = copy.deepcopy(load_fixture("GET_job_freestylejob_14_api_json"))
    raw.update(result=result, building=building)
    row = normalize(raw, "freestylejob").build
    assert row["result"] == expected
    assert (row["duration_s"] is None) == (expected == "running")


def test_secret_parameters_are_never_kept() -> None:
    raw = copy.deepcopy(load_fixture("GET_job_freestylejob_14_api_json"))
    raw["actions"][0]["parameters"] += [
        {"_class": "hudson.model.PasswordParameterValue", "name": "deploy_pass"},
        {"_class": "hudson.model.StringParameterValue", "name": "API_TOKEN", "value": "t0k"},
        {"_class": "hudson.model.StringParameterValue", "name": "ssh_key", "value": "k3y"},
        {"_class": "hudson.model.StringParameterValue", "name": "DB_PASSWORD", "value": "pw"},
        {"_class": "hudson.model.StringParameterValue", "name": "client_secret", "value": "s"},
        {"_class": "hudson.model.StringParameterValue", "name": "REGION", "value": "eu"},
    ]
    row = normalize(raw, "freestylejob").build
    assert row["parameters"] == {"arg": "value1", "REGION": "eu"}


def test_multibranch_branch_job_names_the_branch_decoded() -> None:
    raw = load_fixture("GET_job_rdhanoa_test_project_110_api_json")
    row = normalize(raw, "mb/feature%2Fx", branch="feature/x").build
    assert row["branch"] == "feature/x"
    assert row["scope"] == "mb/feature%2Fx"


def test_lint_is_seen_in_the_job_name_or_in_a_warnings_action() -> None:
    raw = copy.deepcopy(load_fixture("GET_job_freestylejob_14_api_json"))
    assert normalize(raw, "team/api-lint").build["has_lint"] is True
    assert normalize(raw, "team/api").build["has_lint"] is False
    raw["actions"].append({"_class": "io.jenkins.plugins.analysis.core.model.ResultAction"})
    assert normalize(raw, "team/api").build["has_lint"] is True


def test_deploy_rule_reads_environment_and_version_parameters() -> None:
    source = JenkinsSource(
        url="http://j",
        deploy_rules=[
            JenkinsDeployRule(
                job_pattern="*/deploy-*", environment_parameter="ENV", version_parameter="VER"
            )
        ],
    )
    raw = copy.deepcopy(load_fixture("GET_job_rdhanoa_test_project_110_api_json"))
    raw["actions"][0]["parameters"] = [
        {"name": "ENV", "value": "production"},
        {"name": "VER", "value": "2.4.1"},
    ]
    rec = normalize(raw, "payments/deploy-api", source=source)
    dep = rec.deployment
    assert dep is not None
    assert dep["external_id"] == "payments/deploy-api#110"
    assert (dep["service"], dep["environment"], dep["version"]) == ("api", "production", "2.4.1")
    assert dep["commit_sha"] == "77d6dac84c6e70dfae72e92fe3cc83ab53d0e28d"
    assert dep["status"] == "success" and dep["trigger"] == "manual"
    assert dep["finished_at"] - dep["started_at"] == dt.timedelta(seconds=89.688)
    assert normalize(raw, "payments/api", source=source).deployment is None


def test_fixed_environment_rule_uses_the_commit_as_version_and_upstream_is_automated() -> None:
    source = JenkinsSource(
        url="http://j",
        deploy_rules=[JenkinsDeployRule(job_pattern="ops/*", environment="staging", service="web")],
    )
    raw = copy.deepcopy(load_fixture("GET_job_rdhanoa_test_project_110_api_json"))
    raw["actions"][1]["causes"] = [{"upstreamProject": "build", "upstreamBuild": 3}]
    dep = normalize(raw, "ops/rollback-web", source=source).deployment
    assert dep is not None
    assert (dep["service"], dep["environment"]) == ("web", "staging")
    assert dep["version"] == "77d6dac84c6e70dfae72e92fe3cc83ab53d0e28d"
    assert dep["trigger"] == "automated"
    assert dep["is_rollback"] is True and dep["is_hotfix"] is False


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b.pop("number"),
        lambda b: b.update(number="ten"),
        lambda b: b.update(timestamp="yesterday"),
        lambda b: b.update(actions={"not": "a list"}),
        lambda b: b.update(result=17),
    ],
)
def test_malformed_payload_is_refused_with_a_reason(damage: Any) -> None:
    raw = copy.deepcopy(load_fixture("GET_job_freestylejob_14_api_json"))
    damage(raw)
    with pytest.raises(MalformedRecord):
        normalize(raw, "freestylejob")


def test_job_list_keeps_buildable_jobs_and_marks_multibranch_branches() -> None:
    items = [
        {"_class": "com.cloudbees.hudson.plugins.folder.Folder", "fullname": "pay", "jobs": []},
        {
            "_class": "org.jenkinsci.plugins.workflow.multibranch.WorkflowMultiBranchProject",
            "fullname": "pay/api",
            "jobs": [],
        },
        {"_class": "org.jenkinsci.plugins.workflow.job.WorkflowJob", "fullname": "pay/api/f%2Fx"},
        {"_class": "hudson.model.FreeStyleProject", "fullname": "pay/tool"},
        {"_class": "hudson.model.FreeStyleProject", "fullname": "other/tool"},
    ]
    jobs = select_jobs(items, ["pay/*"])
    assert [(j.full_name, j.branch) for j in jobs] == [("pay/api/f%2Fx", "f/x"), ("pay/tool", None)]


def test_local_server_tree_honours_ranges_and_reduces_unasked_objects() -> None:
    value = {
        "_class": "Job",
        "name": "a",
        "allBuilds": [{"_class": "Run", "number": n, "result": "SUCCESS"} for n in (5, 4, 3, 2)],
        "lastBuild": {"_class": "Run", "number": 5},
    }
    assert prune(value, parse_tree("allBuilds[number]{1,3},lastBuild")) == {
        "_class": "Job",
        "allBuilds": [{"_class": "Run", "number": 4}, {"_class": "Run", "number": 3}],
        "lastBuild": {"_class": "Run"},
    }
    assert [
        b["number"] for b in prune(value, parse_tree("allBuilds[number]{2,}"))["allBuilds"]
    ] == [
        3,
        2,
    ]
    assert len(prune(value, parse_tree("allBuilds[number]{1}"))["allBuilds"]) == 1
