"""The local Jenkins answers python-jenkins' own calls as a real Jenkins does."""

from __future__ import annotations

from collections.abc import Iterator

import jenkins
import pytest
import requests

from tests.servers.jenkins import VERSION, JenkinsServer

pytestmark = pytest.mark.integration


@pytest.fixture
def server() -> Iterator[JenkinsServer]:
    with JenkinsServer(user="ci", token="s3cret") as srv:
        yield srv


def test_version_crumb_and_nested_folders_deeper_than_one_request(server: JenkinsServer) -> None:
    path = "/".join(f"level{i}" for i in range(12))
    for depth in range(1, 13):
        server.add_folder("/".join(path.split("/")[:depth]))
    server.add_job(f"{path}/deep-job")
    server.add_folder("mb", multibranch=True)
    server.add_job("mb/feature%2Fx")
    client = jenkins.Jenkins(server.url, "ci", "s3cret", timeout=5)

    names = {j["fullname"] for j in client.get_all_jobs()}
    # After the first call python-jenkins sends its credentials on every request, GET / too.
    assert client.get_version() == VERSION

    assert f"{path}/deep-job" in names and "mb/feature%2Fx" in names
    # Ten folder levels fit in one tree=jobs[...] request; the deeper ones need a second one.
    assert server.count("/api/json") == 3  # crumb, root, level0/.../level9
    assert server.count("/crumbIssuer/api/json") == 1


def test_build_info_test_report_and_job_info(server: JenkinsServer) -> None:
    server.add_folder("mb", multibranch=True)
    server.add_job("mb/feature%2Fx")
    server.add_build("mb/feature%2Fx", tests=(10, 2, 1), sha="a" * 40)
    server.add_build("mb/feature%2Fx", building=True)
    client = jenkins.Jenkins(server.url, "ci", "s3cret", timeout=5)

    info = client.get_job_info("mb/feature%2Fx")
    build = client.get_build_info("mb/feature%2Fx", 1)
    report = client.get_build_test_report("mb/feature%2Fx", 1)

    assert [b["number"] for b in info["builds"]] == [2, 1]
    assert info["lastCompletedBuild"]["number"] == 1 and info["color"].endswith("_anime")
    assert build["result"] == "SUCCESS" and build["url"].endswith("/job/mb/job/feature%252Fx/1/")
    assert (report["passCount"], report["failCount"], report["skipCount"]) == (7, 2, 1)
    assert client.get_build_test_report("mb/feature%2Fx", 2) is None
    assert server.count("/job/mb/job/feature%252Fx/") == 4


def test_basic_auth_is_required_and_checked(server: JenkinsServer) -> None:
    assert requests.get(server.url + "api/json", timeout=5).status_code == 401
    wrong = requests.get(server.url + "api/json", auth=("ci", "nope"), timeout=5)
    assert wrong.status_code == 401 and wrong.headers["X-Jenkins"] == VERSION
    assert requests.get(server.url + "api/json", auth=("ci", "s3cret"), timeout=5).ok
