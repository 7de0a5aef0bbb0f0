"""``maturity collect`` and ``maturity ingest``: data into the store, pulled or pushed."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

import collectors
from maturity.cli.common import UserError, app_context, err, out, setting_up

#: the sources 'maturity collect' pulls from (events are pushed: 'maturity ingest'), named
#: without importing any of them
COLLECT_SOURCES = collectors.pulled()


def collect(
    ctx: typer.Context,
    source: Annotated[
        list[str] | None,
        typer.Option(
            "--source",
            "-s",
            metavar="[" + "|".join(COLLECT_SOURCES) + "]",
            help=f"Collect only this source (repeatable): {', '.join(COLLECT_SOURCES)}; "
            "default: every source the configuration names. Builds, deployments and incidents "
            "from other systems come in through 'maturity ingest'.",
            show_default=False,
        ),
    ] = None,
    team: Annotated[str | None, typer.Option("--team", "-t", help="Only this team.")] = None,
    full_refresh: Annotated[
        bool, typer.Option("--full-refresh", help="Ignore cursors and read everything again.")
    ] = False,
    distributed: Annotated[
        bool,
        typer.Option(
            "--distributed",
            help="One task per scope on 'maturity worker' processes (PostgreSQL store and a "
            "broker: see docs/deploy.md), followed until all are done.",
        ),
    ] = False,
) -> None:
    """Pull data from every configured source into the store."""
    with setting_up():
        from collectors import runner
        from maturity import pipeline
        from maturity.progress import BarProgress

        unknown = [s for s in source or () if s not in COLLECT_SOURCES]
        if unknown:
            raise UserError(f"unknown source {unknown[0]!r}; sources: {', '.join(COLLECT_SOURCES)}")
        context = app_context(ctx)
        cfg = context.config
        if team is not None:
            cfg.team(team)
    if distributed:
        import collectors
        from maturity.distributed import commands as distributed_commands
        from maturity.distributed import settings as distributed_settings

        distributed_settings.require_postgres(context.url)
        pipeline.begin_collection(context.sessions, cfg)
        results = distributed_commands.collect(
            context,
            source or list(collectors.SOURCES),
            team=team,
            full_refresh=full_refresh,
            console=err,
        )
        pipeline.end_collection(context.sessions)
    else:
        with BarProgress(err) as progress:
            # Core connections, not ORM sessions: a collection never imports sqlalchemy.orm
            results = pipeline.collect(
                context.connections,
                cfg,
                sources=source or None,
                team=team,
                full_refresh=full_refresh,
                progress=progress,
            ).results
    table = Table(title="collection", show_lines=False)
    for col in ("source", "scope", "status", "records", "note"):
        table.add_column(col, justify="right" if col == "records" else "left")
    for r in results:
        table.add_row(r.source, r.scope, r.status, str(r.records), r.error or "", style=None)
    out.print(table)
    said = runner.summary(results)
    if said:
        err.print(said, markup=False)
    if any(r.status == "failed" for r in results):
        raise typer.Exit(1)
    err.print("next: 'maturity score --backfill 26' scores this week and the 26 before it")


def ingest(
    ctx: typer.Context,
    file: Annotated[
        str | None,
        typer.Argument(
            help="A file of JSON lines (builds, deployments, incidents, pull requests), or '-'."
        ),
    ] = None,
    skip_invalid: Annotated[
        bool,
        typer.Option("--skip-invalid", help="Write the valid events and report the others."),
    ] = False,
    schema: Annotated[
        bool, typer.Option("--schema", help="Print the JSON Schema of one event and exit.")
    ] = False,
) -> None:
    """Read builds, deployments, incidents and pull requests as JSON lines (see docs/events.md)."""
    from collectors import events
    from maturity import pipeline

    if schema:
        out.print(json.dumps(events.json_schema(), indent=2), markup=False)
        return
    if file is None:
        raise UserError("give a FILE of JSON lines, or '-' for standard input")
    if file == "-":
        stream: Any = sys.stdin.buffer
        name = "stdin"
    else:
        path = Path(file)
        if not path.exists() or path.is_dir():
            raise UserError(f"{file}: no such file")
        try:
            stream = path.open("rb")
        except OSError as exc:
            raise UserError(f"{file}: cannot be read: {exc.strerror or exc}") from None
        name = path.name
    context = app_context(ctx)
    try:
        pipeline.begin_collection(context.sessions, context.config)
        # Line by line into batches of one transaction: a file of any size in flat memory.
        result = events.ingest(
            context.sessions,
            events.iter_lines(stream),
            scope=f"ingest:{name}",
            skip_invalid=skip_invalid,
        )
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
    for line in events.summarize(result.invalid, total=result.invalid_count):
        err.print(f"{name}: {line}", markup=False)
    if not result.written:
        err.print(
            f"{result.invalid_count} invalid line(s) in {name}; nothing was written "
            "(fix them, or pass --skip-invalid to write the valid ones)",
            markup=False,
        )
        raise typer.Exit(2)
    out.print(f"ingested {events.counts_text(result.counts)} from {name}", markup=False)
    if result.invalid_count:
        err.print(f"{result.invalid_count} invalid line(s) skipped", markup=False)
