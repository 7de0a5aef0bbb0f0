"""Events: builds, deployments, incidents and pull requests pushed by any CI or code host (the
schema of docs/events.md)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import TypeAdapter

from collectors import events
from maturity.context import AppContext
from web.api.schemas import EventProblem, EventsAccepted, EventsRejected, Problem
from web.deps import ContextDep, IngestDep

router = APIRouter(tags=["events"])
MAX_BODY_BYTES = 10 * 1024 * 1024
MAX_EVENTS_PER_REQUEST = 10_000
#: the OpenAPI ``components.schemas`` the request body refers to (added by ``web.app``)
COMPONENTS: dict[str, Any] = {}


def _body_schema() -> dict[str, Any]:
    schema = TypeAdapter(events.Event).json_schema(ref_template="#/components/schemas/{model}")
    COMPONENTS.update(schema.pop("$defs", {}))
    return {
        "oneOf": [
            schema,
            {"type": "array", "items": schema, "minItems": 1, "maxItems": MAX_EVENTS_PER_REQUEST},
        ]
    }


_REQUEST_BODY = {
    "required": True,
    "description": "One event, or an array of events (see docs/events.md).",
    "content": {"application/json": {"schema": _body_schema()}},
}


def _rejected(detail: str, invalid: list[EventProblem] | None = None) -> JSONResponse:
    body = EventsRejected(detail=detail, invalid=invalid or [])
    return JSONResponse(body.model_dump(), status_code=422)


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise HTTPException(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise HTTPException(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/events",
    response_model=EventsAccepted,
    responses={
        401: {"model": Problem},
        403: {"model": Problem},
        413: {"model": Problem},
        422: {"model": EventsRejected},
    },
    openapi_extra={"requestBody": _REQUEST_BODY},
)
async def post_events(request: Request, context: ContextDep, _token: IngestDep) -> Any:
    """Write builds, deployments, incidents and pull requests; all or nothing, idempotent.

    Needs ``Authorization: Bearer`` with the ingest token (``MATURITY_INGEST_TOKEN``) or the
    administrator token. If any event is invalid, nothing is written and the answer (422) lists
    every invalid event's index and reason.
    """
    body = await _read_body(request)
    # Decoding, validating and writing are CPU and database work: all of it in a worker
    # thread, so that the event loop goes on answering other requests meanwhile.
    return await run_in_threadpool(_ingest_body, context, body)


def _ingest_body(context: AppContext, body: bytes) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return _rejected("the body is not valid JSON (UTF-8)")
    values = events.iter_json(text)
    try:
        first = next(values)
        counted = _Counted(itertools.chain([first], values))
        result = events.ingest(context.sessions, events.iter_objects(counted), scope="api")
    except StopIteration:
        return _rejected("the body holds no event")
    except events.NotJson as exc:
        # Found while the events before it were being written: rolled back, nothing is kept.
        if "nested too deeply" in str(exc):
            return _rejected("the body is nested too deeply to be an event")
        return _rejected("the body is not valid JSON (UTF-8)")
    except _TooMany:
        raise HTTPException(
            413, f"more than {MAX_EVENTS_PER_REQUEST} events in one request"
        ) from None
    if not result.written:
        problems = [EventProblem(index=i.position, reason=i.reason) for i in result.invalid]
        return _rejected(f"{result.invalid_count} invalid event(s); nothing was written", problems)
    return EventsAccepted(written=result.counts, run_id=result.run_id)


class _TooMany(Exception):
    pass


class _Counted:
    """The decoded elements, counted as they pass; more than the limit stops the request."""

    def __init__(self, values: Iterator[Any]) -> None:
        self.values = values
        self.n = 0

    def __iter__(self) -> Iterator[Any]:
        for value in self.values:
            self.n += 1
            if self.n > MAX_EVENTS_PER_REQUEST:
                raise _TooMany
            yield value
