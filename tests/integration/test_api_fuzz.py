"""Requests generated from the OpenAPI document (schemathesis, in-process) never make a 500."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from pydantic import SecretStr
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from tests import scoredstore, webstore
from web.app import create_app
from web.settings import WebSettings

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]
ADMIN = "admin-token-0123456789abcdef"
VIEWER = "viewer-token-0123456789abcdef"


@pytest.fixture
def api_schema(tmp_path: Path, store_url: str) -> Iterator[Any]:
    """The application's own OpenAPI document, loaded in-process over ASGI."""
    context = webstore.make_context(tmp_path, store_url)
    webstore.seed_demo(context, hostile=True)
    scoredstore.seed_scored(context, weeks=3, hostile=True)
    tokens = WebSettings(admin_token=SecretStr(ADMIN), viewer_token=SecretStr(VIEWER))
    app = create_app(context, settings=tokens)
    yield schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    context.close()


# schemathesis' own pytest plugin (from_fixture) does not run on pytest 9 yet; its strategies
# with hypothesis' @given do the same work.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("token", [ADMIN, VIEWER, None])
def test_generated_requests_never_get_a_server_error(
    api_schema: Any, mode: GenerationMode, token: str | None
) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    paths = {f"{op.method.upper()} {op.path}" for op in operations}
    assert {
        "GET /api/v1/levels",
        "GET /api/v1/teams/{slug}/levels",
        "GET /api/v1/snapshots",
        "GET /api/v1/metrics",
        "GET /api/v1/model",
        "POST /api/v1/model",
        "GET /api/v1/dimensions/{dim_id}",
        "POST /api/v1/actions/collect",
        "POST /api/v1/actions/score",
        "GET /api/v1/actions/{job_id}",
    } <= paths
    assert len(operations) == 21
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    statuses: set[int] = set()
    answered: set[tuple[str, int]] = set()

    @given(case=api_schema.as_strategy(generation_mode=mode))
    @settings(
        max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def check(case: Any) -> None:
        response = case.call(headers=headers)
        statuses.add(response.status_code)
        answered.add((f"{case.method} {case.path}", response.status_code))
        case.validate_response(response, checks=[not_a_server_error])

    check()
    assert 500 not in statuses
    if token is None:
        # Reading needs the viewer token; only a survey answer (a one-time token in the body,
        # which the fuzzer cannot guess) is reachable without one, and it is refused, with 413
        # when a generated body is over the anonymous routes' 64 KiB (web/body_limit.py; seen
        # once in six runs here)
        guarded = {s for op, s in answered if not op.endswith("/responses")}
        assert guarded == {401}
        public = {s for op, s in answered if op.endswith("/responses")}
        assert public <= {400, 404, 409, 410, 413, 422, 429}, public
    else:
        assert 200 in statuses, "the fuzzer never got through"


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_generated_events_reach_validation_and_never_get_a_server_error(
    api_schema: Any, mode: GenerationMode
) -> None:
    # Fuzzed on its own: among 21 operations, 150 examples did not always reach this one.
    operation = api_schema["/api/v1/events"]["POST"]
    headers = {"Authorization": f"Bearer {ADMIN}"}
    answered: set[int] = set()

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def check(case: Any) -> None:
        response = case.call(headers=headers)
        answered.add(response.status_code)
        case.validate_response(response, checks=[not_a_server_error])

    check()
    assert 500 not in answered
    # Generated events got past the token to validation (written or refused with reasons).
    assert answered & {200, 422}, sorted(answered)
