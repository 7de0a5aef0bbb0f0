"""``maturity demo``: a generated organisation, collected, scored and reported."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from maturity.cli.common import UserError, err, load_model, out
from maturity.cli.serve import serve
from maturity.cli.store import status
from maturity.context import AppContext


def demo(
    ctx: typer.Context,
    directory: Annotated[
        Path, typer.Option("--dir", help="Folder for the demo's repositories, config and store.")
    ] = Path(".demo"),
    seed: Annotated[
        int | None,
        typer.Option(
            "--seed",
            help="Seed of the generator: the same seed, the same commits (default: the demo's).",
            show_default=False,
        ),
    ] = None,
    serve_after: Annotated[
        bool,
        typer.Option(
            "--serve/--no-serve", help="Serve the dashboards at http://127.0.0.1:PORT afterwards."
        ),
    ] = False,
    port: Annotated[int, typer.Option("--port", help="Port for --serve.", min=1)] = 8000,
) -> None:
    """Generate the demo organisation, collect, score and report it, and show its status.

    Seven teams with different git histories and delivery habits (CI runs, promotions,
    deployments, incidents and reviewed pull requests, fed through 'maturity ingest'), scored
    over two years of weeks; two of them share a monorepo and own their parts by path rules.
    """
    from maturity import demo as demo_mod
    from maturity import demo_surveys, pipeline
    from maturity.progress import BarProgress
    from maturity.store.engine import normalize_url

    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    paths, fresh = demo_mod.generate(directory, demo_mod.SEED if seed is None else seed)
    store = directory / "maturity.db"
    if fresh:
        # New histories under the same paths: start the store afresh too.
        for suffix in ("", "-wal", "-shm"):
            store.with_name(store.name + suffix).unlink(missing_ok=True)
        err.print(f"generated {len(paths)} repositories in {directory / 'repos'}")
    own = demo_mod.project_checkout()
    if own is None:
        err.print("not running from a git checkout: the team 'devops-maturity' is left out")
    config_path = demo_mod.write_config(directory, own)
    context = AppContext(config_path=config_path)
    # The demo always uses its own store, whatever MATURITY_DATABASE_URL says.
    context.url = normalize_url(f"sqlite:///{store}")
    ctx.obj = context
    ctx.call_on_close(context.close)
    cfg = context.config
    with BarProgress(err) as progress:
        results = pipeline.collect(context.sessions, cfg, sources=["git"], progress=progress)
    for r in results.results:
        if r.status != "success":
            err.print(f"{r.scope}: {r.status}: {r.error}", markup=False)
    _demo_deliveries(context, directory, demo_mod.SEED if seed is None else seed)
    model = load_model(context)
    demo_surveys.answer_rounds(context.sessions, model, end=demo_mod.END.date(), seed=demo_mod.SEED)
    # The demo's history ends on a fixed day: score its teams on the two years up to it, and
    # this checkout's team on its own (real, later) dates, where it has data.
    plans = [(demo_mod.team_names(), demo_mod.END.date(), demo_mod.WEEKS - 1)]
    own_weeks = demo_mod.checkout_weeks(own, today=dt.date.today()) if own else None
    if own_weeks is not None:
        plans.append(([demo_mod.CHECKOUT_TEAM], *own_weeks))
    for names, last, back in plans:
        with BarProgress(err) as progress:
            pipeline.score(
                context.sessions,
                cfg,
                model,
                team=names,
                week=last,
                backfill=back,
                progress=progress,
            )
    status(ctx)
    from reports import flows

    report = flows.generate(
        context.sessions,
        cfg,
        model,
        team="payments",
        fmt="html",
        out=directory / "report-payments.html",
        end=demo_mod.END.date(),
        start=demo_mod.END.date() - dt.timedelta(weeks=12),
    )
    out.print(f"config: {config_path}", markup=False)
    out.print(f"sample retrospective report: {report.path}", markup=False)
    if serve_after:
        serve(ctx, host="127.0.0.1", port=port, collect_every=None)


def _demo_deliveries(context: AppContext, directory: Path, seed: int) -> None:
    """Feed the demo teams' CI runs, deployments, incidents and pull requests through the
    ingest path."""
    from collectors import events
    from maturity import demo as demo_mod
    from maturity import demo_delivery, pipeline

    path = directory / "events.jsonl"
    count = demo_delivery.write_events(demo_mod.history(directory), path, seed)
    parsed = events.parse_lines(path.read_bytes().splitlines())
    if parsed.invalid:
        raise UserError("; ".join(events.summarize(parsed.invalid, limit=3)))
    events.ingest(context.sessions, parsed, scope=f"ingest:{path.name}")
    pipeline.end_collection(context.sessions)
    err.print(f"ingested {count} CI, deployment and incident events from {path}", markup=False)
