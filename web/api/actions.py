"""Administrative actions (administrator token): collect, score, check a model file."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request
from pydantic import BaseModel

from maturity import actions
from maturity import model as model_mod
from web import jobs
from web.api.schemas import PLAIN_TEXT, Problem
from web.deps import AdminDep, ContextDep

router = APIRouter(
    tags=["actions"],
    responses={401: {"model": Problem}, 403: {"model": Problem}},
)
JobId = Annotated[str, Path(min_length=1, max_length=64, pattern=PLAIN_TEXT)]
MAX_MODEL_BYTES = 1_000_000


class JobPublic(BaseModel):
    """A background action and its progress."""

    id: str
    kind: str
    status: str
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    step: str | None
    done: int
    total: int | None
    notes: list[str]
    result: dict[str, Any]
    error: str | None


class ModelCheckPublic(BaseModel):
    """The result of checking an uploaded model file."""

    valid: bool
    name: str
    version: str
    dimensions: int
    criteria: int
    stored: bool
    note: str


def _jobs(request: Request) -> jobs.Jobs:
    running: jobs.Jobs = request.app.state.jobs
    return running


def _submit(request: Request, kind: str, work: Any) -> jobs.Job:
    try:
        return _jobs(request).submit(kind, work)
    except jobs.Busy as exc:
        raise HTTPException(409, str(exc)) from None


@router.post(
    "/actions/collect",
    response_model=JobPublic,
    status_code=202,
    responses={409: {"model": Problem}},
)
def start_collect(request: Request, context: ContextDep, _admin: AdminDep) -> Any:
    """Collect from every configured source in the background (one action at a time)."""
    return _submit(request, "collect", lambda job: actions.collect(context, job))


@router.post(
    "/actions/score",
    response_model=JobPublic,
    status_code=202,
    responses={409: {"model": Problem}},
)
def start_score(
    request: Request,
    context: ContextDep,
    _admin: AdminDep,
    backfill: Annotated[
        int | None, Query(ge=0, le=520, description="Also score this many weeks before.")
    ] = None,
) -> Any:
    """Score the current week (and optionally earlier weeks) in the background."""
    return _submit(request, "score", lambda job: actions.score(context, job, backfill=backfill))


@router.get("/actions/{job_id}", response_model=JobPublic, responses={404: {"model": Problem}})
def get_action(request: Request, job_id: JobId, _admin: AdminDep) -> Any:
    """Where a background action stands."""
    job = _jobs(request).get(job_id)
    if job is None:
        raise HTTPException(404, f"no action {job_id!r}")
    return job


@router.post(
    "/model",
    response_model=ModelCheckPublic,
    responses={413: {"model": Problem}, 422: {"model": Problem}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
async def upload_model(request: Request, _admin: AdminDep) -> Any:
    """Check a model file (TOML) against the metric catalogue; 422 names what is wrong.

    The file is validated only, not stored: the model in use is the file named by
    ``model = "path"`` in maturity.toml, and changing it is a change of the configuration.
    """
    body = await request.body()
    if len(body) > MAX_MODEL_BYTES:
        raise HTTPException(413, f"a model file is at most {MAX_MODEL_BYTES} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise HTTPException(422, "the model file is not UTF-8 text") from None
    with tempfile.TemporaryDirectory() as tmp:
        file = FilePath(tmp) / "model.toml"
        file.write_text(text, encoding="utf-8")
        try:
            found = model_mod.load(file)
        except model_mod.ModelError as exc:
            # The message names the file's temporary path; say 'model.toml' instead.
            raise HTTPException(422, str(exc).replace(str(file), "model.toml")) from None
    return {
        "valid": True,
        "name": found.name,
        "version": found.version,
        "dimensions": len(found.dimensions),
        "criteria": len(found.criteria()),
        "stored": False,
        "note": 'validated only: set model = "path" in maturity.toml to use a model file',
    }
