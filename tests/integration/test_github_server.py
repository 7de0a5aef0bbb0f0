"""The local GitHub server answers stock PyGithub like GitHub does: paths, Link paging, ETags,
rate limits and error bodies (so that collector tests against it mean something)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import github
import pytest
import requests

from tests.servers.github import T0, GitHubServer, RateLimit

pytestmark = pytest.mark.integration

TOKEN = "server-test-token"


@pytest.fixture
def server() -> Iterator[GitHubServer]:
    with GitHubServer(token=TOKEN) as srv:
        srv.add_repo("acme", "api").populate(pulls=75, runs=130, issues=10)
        yield srv


def client(srv: GitHubServer, prefix: str = "/api/v3", token: str = TOKEN) -> github.Github:
    return github.Github(
        auth=github.Auth.Token(token),
        base_url=srv.url + prefix,
        per_page=20,
        retry=None,
        seconds_between_requests=None,
    )


@pytest.mark.parametrize("prefix", ["/api/v3", ""])
def test_stock_pygithub_pages_through_every_item_by_link_headers(
    server: GitHubServer, prefix: str
) -> None:
    repo = client(server, prefix).get_repo("acme/api")
    assert repo.default_branch == "main" and repo.full_name == "acme/api"
    pulls = repo.get_pulls(state="all", sort="updated", direction="desc")
    # per_page=1, then the page number of rel="last"
    assert repo.get_pulls(state="all").totalCount == 75
    numbers = [p.number for p in pulls]
    assert sorted(numbers) == list(range(1, 76))
    runs = repo.get_workflow_runs()
    assert runs.totalCount == 130 and len({r.id for r in runs}) == 130
    assert server.raw_paths[f"{prefix}/repositories/{repo.id}/pulls"] >= 3


def test_link_header_names_next_and_last_with_the_query_kept(server: GitHubServer) -> None:
    headers = {"Authorization": f"token {TOKEN}"}
    resp = requests.get(
        f"{server.url}/api/v3/repos/acme/api/pulls",
        params={"state": "all", "per_page": "30"},
        headers=headers,
        timeout=10,
    )
    links = resp.links
    assert links["next"]["url"].startswith(f"{server.url}/api/v3/repositories/")
    assert "state=all" in links["next"]["url"] and "page=2" in links["next"]["url"]
    assert "page=3" in links["last"]["url"]
    assert resp.headers["X-RateLimit-Limit"] == "5000"


def test_etag_gives_304_that_does_not_spend_the_budget(server: GitHubServer) -> None:
    headers = {"Authorization": f"token {TOKEN}"}
    url = f"{server.url}/repos/acme/api/issues"
    first = requests.get(url, headers=headers, timeout=10)
    remaining = int(first.headers["X-RateLimit-Remaining"])
    again = requests.get(
        url, headers={**headers, "If-None-Match": first.headers["ETag"]}, timeout=10
    )
    assert again.status_code == 304 and again.content == b""
    assert int(again.headers["X-RateLimit-Remaining"]) == remaining


def test_since_and_created_filter_like_github(server: GitHubServer) -> None:
    repo = client(server).get_repo("acme/api")
    cut = T0.replace(hour=5)
    issues = list(repo.get_issues(state="all", since=cut))
    assert issues and all(i.updated_at >= cut for i in issues)
    runs = repo.get_workflow_runs(created=f">={cut.strftime('%Y-%m-%dT%H:%M:%SZ')}")
    assert 0 < runs.totalCount < 130


def test_bad_token_gets_githubs_401_body(server: GitHubServer) -> None:
    with pytest.raises(github.BadCredentialsException) as caught:
        client(server, token="wrong").get_repo("acme/api")
    assert caught.value.data["message"] == "Bad credentials"
    assert caught.value.data["documentation_url"].startswith("https://docs.github.com")


def test_spent_budget_answers_403_with_reset_until_the_reset(server: GitHubServer) -> None:
    server.rate = RateLimit(limit=10, remaining=0, reset_in_s=0.1)
    gh = client(server)
    with pytest.raises(github.RateLimitExceededException) as caught:
        gh.get_repo("acme/api")
    headers = caught.value.headers or {}
    assert headers["x-ratelimit-remaining"] == "0"
    reset = int(headers["x-ratelimit-reset"])  # an epoch second, as GitHub sends it
    while time.time() <= reset:  # polled: the budget comes back at the announced reset
        time.sleep(0.05)
    assert gh.get_repo("acme/api").name == "api"


def test_requests_are_counted_per_path(server: GitHubServer) -> None:
    repo = client(server).get_repo("acme/api")
    list(repo.get_pulls(state="all"))
    assert server.counts["/repos/acme/api"] == 1
    assert server.counts["/repos/acme/api/pulls"] == 4  # 75 pull requests, 20 a page
