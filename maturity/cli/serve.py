"""``maturity serve``, ``worker`` and ``schedule``: the processes that run on."""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from maturity.cli.common import UserError, app_context, err, out, redacted


def serve(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on; 0.0.0.0 opens it to the network.")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", help="Port to listen on.", min=1, max=65535)
    ] = 8000,
    collect_every: Annotated[
        str | None,
        typer.Option(
            "--collect-every",
            help="Collect and score in the background this often (30m, 1h, 1d).",
        ),
    ] = None,
) -> None:
    """Serve the dashboards and the JSON API (tokens: MATURITY_ADMIN_TOKEN, ..._VIEWER_TOKEN)."""
    import gc
    import threading

    import uvicorn

    from maturity import actions
    from web import jobs
    from web.app import create_app
    from web.settings import SettingsError, WebSettings

    interval = None
    if collect_every is not None:
        try:
            interval = actions.parse_duration(collect_every)
        except ValueError as exc:
            raise UserError(f"--collect-every: {exc}") from None
    context = app_context(ctx)
    try:
        settings = WebSettings.from_env()
    except SettingsError as exc:
        raise UserError(str(exc)) from None
    context.sessions  # noqa: B018 (open and migrate the store now: a bad URL fails here, clearly)
    if host not in ("127.0.0.1", "localhost", "::1") and settings.viewer_token is None:
        err.print(
            f"warning: serving on {host} with no MATURITY_VIEWER_TOKEN: anyone who reaches it "
            "can read every page",
            markup=False,
        )
    out.print(f"serving {redacted(context.url)} on http://{host}:{port}/", markup=False)
    web_app = create_app(context, settings=settings)
    stop = threading.Event()
    if interval is not None:
        # Shares the application's action queue: a collection started from the web and the
        # scheduled one never run at the same time.
        jobs.every(web_app.state.jobs, context, interval, stop)
        out.print(f"collecting and scoring every {collect_every}", markup=False)
    # Everything imported and built so far lives as long as the process: kept out of the
    # garbage collector's full passes, which otherwise stop every thread (the event loop too)
    # for a third of a second when a worker thread allocates a lot (an ingest).
    gc.freeze()
    # Worker threads (ingest, reports) hand the interpreter back to the event loop after 1 ms
    # instead of 5: a request waits for each of its hops to a thread and back.
    sys.setswitchinterval(0.001)
    trusted = list(context.config.web.trusted_proxies)
    if trusted:
        out.print(f"trusting X-Forwarded-* from {', '.join(trusted)}", markup=False)
    uvicorn.run(
        web_app,
        host=host,
        port=port,
        log_level="warning",
        server_header=False,
        # The scheme (Secure cookies) and client address (rate limits) come from
        # X-Forwarded-Proto/-For only when the request comes from a listed proxy.
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted or [],
    )


def worker(
    ctx: typer.Context,
    concurrency: Annotated[
        int,
        typer.Option("--concurrency", "-n", min=1, max=256, help="Tasks run at once (processes)."),
    ] = 2,
    queue: Annotated[
        list[str] | None,
        typer.Option(
            "--queue",
            "-q",
            metavar="[collect|score]",
            help="Take only these tasks (repeatable); default: both collection and scoring.",
            show_default=False,
        ),
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Worker name (default: celery@HOSTNAME).")
    ] = None,
) -> None:
    """Run a worker that collects scopes and scores partitions (needs PostgreSQL and a broker;
    see docs/deploy.md)."""
    from maturity.distributed import commands as distributed_commands
    from maturity.distributed import settings as distributed_settings

    names = {
        "collect": distributed_settings.COLLECT_QUEUE,
        "score": distributed_settings.SCORE_QUEUE,
    }
    unknown = [q for q in queue or () if q not in names]
    if unknown:
        raise UserError(f"unknown queue {unknown[0]!r}; queues: collect, score")
    queues = [names[q] for q in queue] if queue else list(names.values())
    level = "INFO" if logging.getLogger().isEnabledFor(logging.INFO) else "WARNING"
    distributed_commands.worker(
        app_context(ctx), concurrency=concurrency, queues=queues, loglevel=level, name=name
    )


def schedule(
    ctx: typer.Context,
    every: Annotated[
        str | None,
        typer.Option(
            "--every",
            help="Collect and score this often (30m, 1h, 1d); default: [distributed] "
            "collect_every.",
            show_default=False,
        ),
    ] = None,
    backfill: Annotated[
        int | None,
        typer.Option("--backfill", "-b", min=0, max=520, help="Also score weeks before this one."),
    ] = None,
) -> None:
    """Send a collection and scoring to the workers on a schedule (Celery beat; run one, in
    place of 'serve --collect-every' when several machines serve)."""
    from maturity import actions
    from maturity.distributed import commands as distributed_commands

    if every is not None:
        try:
            actions.parse_duration(every)
        except ValueError as exc:
            raise UserError(f"--every: {exc}") from None
    distributed_commands.schedule(app_context(ctx), every=every, backfill=backfill)
