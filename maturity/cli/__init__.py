"""The command line: ``maturity`` and its commands, one clear line on any error."""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

import collectors
from maturity import spreadsheet
from maturity.context import AppContext
from maturity.errors import ConfigError, StoreError
from maturity.store import names as store_names

if TYPE_CHECKING:
    from maturity import config as config_mod

app = typer.Typer(
    name="maturity",
    help="Score engineering teams on the DevOps maturity model from data collected from "
    "git, CI and issue trackers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
db_app = typer.Typer(help="Manage the store's schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class UserError(Exception):
    """A mistake the person can fix; shown as one line, exit code 2."""


ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Configuration file (default: $MATURITY_CONFIG, else ./maturity.toml).",
        envvar="MATURITY_CONFIG",
        show_default=False,
    ),
]


@app.callback()
def _root(
    ctx: typer.Context,
    config: ConfigOption = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what happens.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    from maturity import wiring

    wiring.wire()
    ctx.obj = AppContext(config_path=config)
    ctx.call_on_close(ctx.obj.close)


def redacted(url: str) -> str:
    """The store's URL as it may be shown: never with its password."""
    from maturity.store import engine

    return engine.redacted(url)


def _ctx(ctx: typer.Context) -> AppContext:
    obj = ctx.obj
    assert isinstance(obj, AppContext)
    return obj


def main() -> None:
    """Entry point of the ``maturity`` command."""
    try:
        app()
    except (ConfigError, StoreError, UserError) as exc:
        err.print(f"error: {exc}", markup=False)
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("interrupted; what was committed stays valid: run the command again")
        sys.exit(130)
    except Exception as exc:
        if logging.getLogger().isEnabledFor(logging.DEBUG) or os.environ.get("MATURITY_DEBUG"):
            raise
        first = (str(exc).strip().splitlines() or [""])[0]
        err.print(f"error: {type(exc).__name__}: {first}", markup=False)
        err.print("(set MATURITY_DEBUG=1 to see the traceback)", markup=False)
        sys.exit(1)


# --- init and db --------------------------------------------------------------------------


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the example.")] = Path(
        "maturity.toml"
    ),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented example maturity.toml to start from."""
    if path.exists() and not force:
        raise UserError(f"{path} exists; pass --force to overwrite it")
    from maturity import config as config_mod

    path.write_text(config_mod.EXAMPLE, encoding="utf-8")
    out.print(f"wrote {path}; edit the teams, then run 'maturity collect'")


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Create the store or migrate it to the newest schema."""
    from maturity.store import migrate
    from maturity.store.engine import make_engine

    context = _ctx(ctx)
    engine = make_engine(context.url)
    try:
        before = migrate.current_revision(engine)
    except Exception as exc:
        raise StoreError(f"cannot open the store at {redacted(context.url)}: {exc}") from None
    finally:
        engine.dispose()
    migrate.upgrade(context.url)
    after = migrate.head_revision()
    if before == after:
        out.print(f"store at {redacted(context.url)} is already at revision {after}")
    else:
        out.print(f"store at {redacted(context.url)} migrated from {before or 'empty'} to {after}")


# --- collect ------------------------------------------------------------------------------

#: the sources 'maturity collect' pulls from (events are pushed: 'maturity ingest'), named
#: without importing any of them
COLLECT_SOURCES = collectors.pulled()


@app.command()
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
    from collectors import runner
    from maturity import pipeline
    from maturity.progress import BarProgress

    unknown = [s for s in source or () if s not in COLLECT_SOURCES]
    if unknown:
        raise UserError(f"unknown source {unknown[0]!r}; sources: {', '.join(COLLECT_SOURCES)}")
    context = _ctx(ctx)
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
            results = pipeline.collect(
                context.sessions,
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


# --- status -------------------------------------------------------------------------------


def _shared_repositories(cfg: config_mod.Config) -> dict[str, list[str]]:
    """Repository name -> the teams that share it by path rules."""
    from maturity import teams

    listed: dict[str, list[tuple[str, bool]]] = {}
    for team in cfg.teams:
        for spec in cfg.repository_specs(team):
            name = spec.name or teams.repository_name(cfg.resolve(spec.location))
            listed.setdefault(name, []).append((team.name, bool(spec.paths)))
    return {n: [t for t, _ in v] for n, v in listed.items() if any(p for _, p in v)}


@app.command()
def status(ctx: typer.Context) -> None:
    """Show teams, repositories, counts, sources, and each team's levels and DORA keys."""
    from maturity.store import status as store_status
    from maturity.store.engine import session_scope

    context = _ctx(ctx)
    with session_scope(context.sessions) as session:
        repos = store_status.repository_summary(session)
        runs = store_status.last_runs(session)
    out.print(f"store: {redacted(context.url)}")
    table = Table(title="repositories")
    for col in ("team", "repository", "commits", "tags", "last commit"):
        table.add_column(col, justify="right" if col in ("commits", "tags") else "left")
    shared = _shared_repositories(context.config)
    for row in repos.itertuples(index=False):
        last = row.last_commit.strftime("%Y-%m-%d") if row.last_commit is not None else "-"
        # a repository shared by path rules has no one team: name the teams that share it
        team = row.team if isinstance(row.team, str) else ", ".join(shared.get(row.repository, []))
        table.add_row(team or "-", row.repository, str(row.commits), str(row.tags), last)
    out.print(table)
    table = Table(title="sources")
    for col in ("source", "scopes", "failed", "last run", "last success"):
        table.add_column(col)
    for row in runs.itertuples(index=False):
        table.add_row(
            row.source,
            str(row.scopes),
            str(row.failed_scopes),
            _when(row.last_run),
            _when(row.last_success),
        )
    out.print(table)
    _print_maturity(context)


def _when(value: Any) -> str:
    if value is None or value != value:  # NaT/NaN
        return "never"
    return str(value.strftime("%Y-%m-%d %H:%M UTC"))


# --- export -------------------------------------------------------------------------------


#: what 'maturity export' offers, named without importing the store
#: (``maturity.store.export.EXPORTABLE`` maps them)
EXPORT_TABLES = store_names.EXPORTABLE


class ExportFormat(StrEnum):
    csv = "csv"
    jsonl = "jsonl"


@app.command()
def export(
    ctx: typer.Context,
    table: Annotated[
        str,
        typer.Argument(
            metavar="TABLE",
            help=f"One of {', '.join(EXPORT_TABLES)}; or 'all' (one file each, with --out).",
        ),
    ],
    fmt: Annotated[ExportFormat, typer.Option("--format", "-f", help="Output format.")] = (
        ExportFormat.csv
    ),
    out_path: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="File (one table) or folder (all); default: standard output."
        ),
    ] = None,
    raw: Annotated[
        bool, typer.Option("--raw", help="CSV: do not neutralize cells that start a formula.")
    ] = False,
) -> None:
    """Export collected tables as CSV or JSON lines, so the data can go anywhere."""
    from maturity.store import export as store_export
    from maturity.store.engine import session_scope

    names = list(store_export.EXPORTABLE) if table == "all" else [table]
    if table != "all" and table not in store_export.EXPORTABLE:
        raise UserError(
            f"unknown table {table!r}; tables: all, {', '.join(store_export.EXPORTABLE)}"
        )
    if table == "all" and out_path is None:
        raise UserError("'export all' needs --out FOLDER (one file per table)")
    context = _ctx(ctx)
    with session_scope(context.sessions) as session:
        for name in names:
            if out_path is None:
                target = None
            elif table == "all":
                out_path.mkdir(parents=True, exist_ok=True)
                target = out_path / f"{name}.{fmt.value}"
            else:
                target = out_path
            _write_export(store_export.iter_export(session, name), fmt, target, raw=raw)
            if target is not None:
                err.print(f"wrote {target}")


def _write_export(chunks: Any, fmt: ExportFormat, target: Path | None, *, raw: bool) -> None:
    # Write to a temporary file and rename, so an interrupted export never leaves half a file.
    tmp = target.with_name(target.name + ".partial") if target else None
    stream = tmp.open("w", encoding="utf-8", newline="") if tmp else sys.stdout
    try:
        writer: Any = None
        for rows in chunks:
            for row in rows:
                if fmt is ExportFormat.jsonl:
                    stream.write(json.dumps(row, default=_json_default, ensure_ascii=False) + "\n")
                    continue
                if writer is None:
                    writer = csv.DictWriter(stream, fieldnames=list(row))
                    writer.writeheader()
                row = {k: _json_text(v) for k, v in row.items()}
                writer.writerow(
                    row if raw else {k: spreadsheet.csv_cell(v) for k, v in row.items()}
                )
    finally:
        if tmp:
            stream.close()
    if tmp and target:
        tmp.replace(target)


def _json_text(value: Any) -> Any:
    """JSON columns (build parameters) as JSON text in a CSV cell, never a Python repr."""
    if isinstance(value, dict | list):
        return json.dumps(value, default=_json_default, ensure_ascii=False, sort_keys=True)
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    raise TypeError(f"cannot serialize {type(value).__name__}")


# --- ingest: events from any CI -----------------------------------------------------------


@app.command()
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
    context = _ctx(ctx)
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


# --- serve: the web application -----------------------------------------------------------


@app.command()
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
    context = _ctx(ctx)
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


# --- distributed: workers and the scheduler -----------------------------------------------


@app.command()
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
        _ctx(ctx), concurrency=concurrency, queues=queues, loglevel=level, name=name
    )


@app.command()
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
    distributed_commands.schedule(_ctx(ctx), every=every, backfill=backfill)


# --- model and scoring --------------------------------------------------------------------

model_app = typer.Typer(help="Show or check a maturity model.", no_args_is_help=True)
app.add_typer(model_app, name="model")

ModelOption = Annotated[
    Path | None,
    typer.Option(
        "--model",
        "-m",
        help="Model file (default: the configuration's 'model', else the shipped model).",
        show_default=False,
    ),
]


def _load_model(context: AppContext, path: Path | None = None) -> Any:
    from maturity import model as model_mod

    try:
        return model_mod.load(path or context.config.model_path())
    except model_mod.ModelError as exc:
        raise UserError(str(exc)) from None


@model_app.command("show")
def model_show(ctx: typer.Context, model: ModelOption = None) -> None:
    """Print the maturity model as a table: every cell's text and criteria."""
    m = _load_model(_ctx(ctx), model)
    out.print(f"{m.name} (version {m.version}, {len(m.criteria())} criteria)", markup=False)
    for dim in m.dimensions:
        table = Table(title=dim.name, show_lines=True, title_justify="left")
        table.add_column("level")
        table.add_column("text (seed)")
        table.add_column("criteria")
        for lv in dim.levels:
            lines = []
            for c in lv.criteria:
                checks = []
                if c.metric:
                    checks.append(c.metric.text())
                if c.survey:
                    checks.append(f"survey >= {c.survey.min_mean:g}")
                lines.append(f"{c.id} [{' and '.join(checks)}]: {c.description}")
            table.add_row(
                escape(lv.name), escape(lv.text), escape("\n".join(lines)) or "(needs nothing)"
            )
        out.print(table)


@model_app.command("check")
def model_check(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="The model file to validate.")],
) -> None:
    """Validate a model file; errors name the criterion at fault."""
    m = _load_model(_ctx(ctx), file)
    kinds: dict[str, int] = {}
    for _, _, c in m.criteria():
        kinds[c.kind] = kinds.get(c.kind, 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    out.print(
        f"{file}: valid; version {m.version}; {len(m.dimensions)} dimensions, "
        f"{len(m.criteria())} criteria ({summary})",
        markup=False,
    )


@app.command()
def score(
    ctx: typer.Context,
    team: Annotated[str | None, typer.Option("--team", "-t", help="Only this team.")] = None,
    week: Annotated[
        str | None,
        typer.Option(
            "--week", "-w", help="A day (YYYY-MM-DD) of the week to score; default: this week."
        ),
    ] = None,
    backfill: Annotated[
        int | None,
        typer.Option(
            "--backfill",
            "-b",
            min=0,
            max=520,
            help="Also score this many weeks before it, from collected history.",
        ),
    ] = None,
    distributed: Annotated[
        bool,
        typer.Option(
            "--distributed",
            help="Score teams in partitions on 'maturity worker' processes (PostgreSQL store "
            "and a broker: see docs/deploy.md).",
        ),
    ] = False,
    partition_size: Annotated[
        int | None,
        typer.Option(
            "--partition-size",
            min=1,
            help="With --distributed: teams per task (default: [distributed] partition_size).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Compute and store one snapshot per team, dimension and week (re-scoring replaces)."""
    from maturity import pipeline
    from maturity.progress import BarProgress

    context = _ctx(ctx)
    when = None
    if week is not None:
        try:
            when = dt.date.fromisoformat(week)
        except ValueError:
            raise UserError(f"--week: expected YYYY-MM-DD, got {week!r}") from None
    m = _load_model(context)
    if distributed:
        _score_distributed(context, team, when, backfill, partition_size)
        return
    with BarProgress(err) as progress:
        try:
            run = pipeline.score(
                context.sessions,
                context.config,
                m,
                team=team,
                week=when,
                backfill=backfill,
                progress=progress,
            )
        except LookupError as exc:
            raise UserError(str(exc.args[0])) from None
    snaps = run.snapshots
    if snaps.empty:
        out.print("no teams in the store: run 'maturity collect' first")
        return
    last = max(run.period_ends)
    out.print(
        f"scored {len(run.period_ends)} week(s) ending {min(run.period_ends)} .. {last} "
        f"with model {run.model_version}: {len(snaps)} snapshot(s)",
        markup=False,
    )
    _print_levels(context, snaps[snaps["period_end"] == last], title=f"week ending {last}")
    _note_quiet_history(context, last, team)


def _score_distributed(
    context: AppContext,
    team: str | None,
    when: dt.date | None,
    backfill: int | None,
    partition_size: int | None,
) -> None:
    from maturity.distributed import commands as distributed_commands
    from maturity.distributed import settings as distributed_settings
    from maturity.store import scores as store_scores
    from maturity.store.engine import session_scope

    distributed_settings.require_postgres(context.url)
    try:
        done = distributed_commands.score(
            context,
            team=team,
            week=when,
            backfill=backfill,
            partition_size=partition_size,
            console=err,
        )
    except LookupError as exc:
        raise UserError(str(exc.args[0])) from None
    if not done["snapshots"]:
        out.print("no teams in the store: run 'maturity collect' first")
        return
    ends = done["period_ends"]
    last = max(ends)
    out.print(
        f"scored {len(ends)} week(s) ending {min(ends)} .. {last} with model "
        f"{done['model_version']}: {done['snapshots']} snapshot(s) in {done['partitions']} "
        "partition(s)",
        markup=False,
    )
    with session_scope(context.sessions) as session:
        snaps = store_scores.list_snapshots(session, since=last, until=last)
    if team is not None:
        snaps = snaps[snaps["team"].str.casefold() == team.casefold()]
    _print_levels(context, snaps, title=f"week ending {last}")
    _note_quiet_history(context, last, team)


def _note_quiet_history(context: AppContext, last: dt.date, team: str | None) -> None:
    """Point at the right weeks when a team's history ends long before the weeks scored (an
    archived or quiet repository): there, its git metrics are unknown or 0."""
    from maturity.store import status as store_status
    from maturity.store.engine import session_scope

    with session_scope(context.sessions) as session:
        repos = store_status.repository_summary(session)
    window = context.config.settings.window_days
    repos = repos[repos["team"].notna() & repos["last_commit"].notna()]
    if team is not None:
        repos = repos[repos["team"].str.casefold() == team.casefold()]
    for name, newest in repos.groupby("team")["last_commit"].max().items():
        day = newest.date()
        if (last - day).days > window:
            err.print(
                f"note: the newest commit of {name} is from {day}, more than the {window}-day "
                f"window before the week ending {last}: its git metrics are unknown or 0 in the "
                f"weeks scored. To score the weeks of its history: maturity score --week {day} "
                "--backfill 26 (pages show the latest week scored; pick earlier ones with To)",
                markup=False,
            )


def _print_levels(context: AppContext, snaps: Any, *, title: str) -> None:
    from maturity import display
    from maturity.store import scores as store_scores
    from maturity.store.engine import session_scope

    with session_scope(context.sessions) as session:
        names = store_scores.team_names(session).set_index("team_id")["name"]
    try:  # the model's order and names; dimensions it does not know (an older model) at the end
        dimensions = _load_model(context).dimensions
    except UserError:
        dimensions = []
    order = [d.id for d in dimensions]
    titles = {d.id: d.name for d in dimensions}
    found = list(dict.fromkeys(snaps["dimension"]))
    dims = [d for d in order if d in found] + [d for d in found if d not in order]
    table = Table(title=title)
    table.add_column("team")
    for d in dims:
        table.add_column(escape(titles.get(d, d)))
    for team_id, rows in snaps.groupby("team_id", sort=False):
        cells = rows.set_index("dimension")
        row = [escape(str(names.get(team_id, team_id)))]
        for d in dims:
            if d not in cells.index:
                row.append("-")
                continue
            c = cells.loc[d]
            coverage = float(c["coverage"])
            if coverage <= 0:
                row.append(display.NO_DATA)
                continue
            row.append(
                f"{display.level_name(int(c['level']), coverage)} {float(c['score']):.2f} "
                f"({display.value(coverage, 'share')} data)"
            )
        table.add_row(*row)
    out.print(table)


def _print_maturity(context: AppContext) -> None:
    """Each team's latest level per dimension and the DORA four keys with their tiers."""
    from maturity import display
    from maturity import metrics as metrics_mod
    from maturity.store import scores as store_scores
    from maturity.store.engine import session_scope

    with session_scope(context.sessions) as session:
        latest = store_scores.latest_snapshots(session)
        keys = store_scores.metric_series(session, metrics=list(metrics_mod.DORA_KEYS))
    if latest.empty:
        out.print("no snapshots yet: run 'maturity score'")
        return
    _print_levels(context, latest, title="maturity (latest week scored)")
    table = Table(title="DORA four keys (tiers: DORA 2024)")
    table.add_column("team")
    table.add_column("week")
    for k in metrics_mod.DORA_KEYS:
        table.add_column(display.DORA_LABELS[k])
    if not keys.empty:
        newest = keys.groupby("team_id")["period_end"].transform("max")
        keys = keys[keys["period_end"] == newest]
        for (team_name, period), rows in keys.groupby(["team", "period_end"], sort=True):
            vals = rows.set_index("metric")["value"]
            row = [escape(str(team_name)), str(period)]
            for k in metrics_mod.DORA_KEYS:
                v = vals.get(k)
                v = None if v is None or v != v else float(v)
                t = metrics_mod.tier(k, v)
                text = display.value(v, metrics_mod.CATALOGUE[k].unit)
                row.append(text if t == "unknown" else f"{text} {t}")
            table.add_row(*row)
    out.print(table)


# --- demo ---------------------------------------------------------------------------------


@app.command()
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
    model = _load_model(context)
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


# --- surveys ------------------------------------------------------------------------------

survey_app = typer.Typer(
    help="Anonymous self-assessment surveys: open rounds, hand out links, read results at k.",
    no_args_is_help=True,
)
app.add_typer(survey_app, name="survey")


def _team_id(session: Any, name: str) -> int:
    from sqlalchemy import func, select

    from maturity.store import tables

    found = session.scalar(
        select(tables.Team.id).where(
            (func.lower(tables.Team.name) == name.casefold())
            | (func.lower(tables.Team.slug) == name.casefold())
        )
    )
    if found is None:
        raise UserError(f"no team named {name!r} in the store (run 'maturity collect')")
    return int(found)


@survey_app.command("open")
def survey_open(
    ctx: typer.Context,
    team: Annotated[str, typer.Option("--team", "-t", help="The team asked.")],
    links: Annotated[int, typer.Option("--links", "-n", help="How many one-time links.")],
    k: Annotated[
        int, typer.Option("--k", help="Responses needed before any result is shown (>= 3).")
    ] = 5,
    closes: Annotated[
        str | None, typer.Option("--closes", help="The day (YYYY-MM-DD) the round closes.")
    ] = None,
    base_url: Annotated[
        str, typer.Option("--base-url", help="Where the web application is reached.")
    ] = "http://127.0.0.1:8000",
) -> None:
    """Open a round and print its one-time links, once: they are never stored."""
    from maturity import surveys, teams
    from maturity.store.engine import session_scope

    closes_on = None
    if closes is not None:
        try:
            closes_on = dt.date.fromisoformat(closes)
        except ValueError:
            raise UserError(f"--closes: expected YYYY-MM-DD, got {closes!r}") from None
    context = _ctx(ctx)
    m = _load_model(context)
    with session_scope(context.sessions) as session:
        teams.sync(session, context.config)
    try:
        with session_scope(context.sessions) as session:
            opened = surveys.open_round(
                session,
                team_id=_team_id(session, team),
                questions=surveys.questions_for_model(m),
                links=links,
                model_version=str(m.version),
                k=k,
                closes_on=closes_on,
            )
    except surveys.SurveyError as exc:
        raise UserError(str(exc)) from None
    err.print(
        f"round {opened.public_id} for {team}: {links} link(s), results from {k} responses. "
        "Hand out one link per person; they are shown only now.",
        markup=False,
    )
    for link in survey_links(base_url, opened):
        out.print(link, markup=False)


def survey_links(base_url: str, opened: Any) -> list[str]:
    """The links of a round: the token after '#', which browsers never send to a server."""
    base = base_url.rstrip("/")
    return [f"{base}/survey/{opened.public_id}#token={t}" for t in opened.tokens]


@survey_app.command("close")
def survey_close(
    ctx: typer.Context, round_id: Annotated[str, typer.Argument(help="The round's id.")]
) -> None:
    """Close a round: its unused links stop working; a running server writes the answers it
    holds for it as a last batch if at least k, else discards them."""
    from maturity import surveys
    from maturity.store.engine import session_scope

    try:
        with session_scope(_ctx(ctx).sessions) as session:
            surveys.close_round(session, round_id)
    except surveys.SurveyError as exc:
        raise UserError(str(exc)) from None
    out.print(
        f"round {round_id} closed; answers a running 'maturity serve' still holds for it are "
        "written within a minute if there are at least k of them, else discarded",
        markup=False,
    )


@survey_app.command("list")
def survey_list(
    ctx: typer.Context,
    team: Annotated[str | None, typer.Option("--team", "-t", help="Only this team.")] = None,
) -> None:
    """List rounds with their response counts (never a result)."""
    from maturity import surveys
    from maturity.store.engine import session_scope

    with session_scope(_ctx(ctx).sessions) as session:
        team_id = _team_id(session, team) if team else None
        rounds = surveys.list_rounds(session, team_id=team_id)
    if not rounds:
        out.print("no survey rounds yet: open one with 'maturity survey open'")
        return
    table = Table(title="survey rounds")
    for col in ("round", "team", "opened", "closes", "responses/k", "state"):
        table.add_column(col)
    for r in rounds:
        table.add_row(
            r.public_id,
            escape(r.team),
            r.opened_on.isoformat(),
            r.closes_on.isoformat() if r.closes_on else "-",
            f"{r.responses}/{r.k}",
            "open" if r.open else "closed",
        )
    out.print(table)


@survey_app.command("results")
def survey_results(
    ctx: typer.Context, round_id: Annotated[str, typer.Argument(help="The round's id.")]
) -> None:
    """Show a round's results, once it has at least k responses."""
    from maturity import surveys
    from maturity.store.engine import session_scope

    try:
        with session_scope(_ctx(ctx).sessions) as session:
            result = surveys.results(session, round_id)
    except surveys.SurveyError as exc:
        raise UserError(str(exc)) from None
    if not result.visible:
        out.print(
            f"round {round_id}: {result.responses} response(s); results are shown from "
            f"{result.k}: {result.needed} more needed",
            markup=False,
        )
        return
    table = Table(title=f"round {round_id}: {result.responses} responses")
    for col in ("question", "mean", *map(str, surveys.SCALE), "don't know"):
        table.add_column(col)
    for q in result.questions:
        if q.counts is None:
            hidden = f"hidden: fewer than {result.k} ratings"
            table.add_row(escape(q.question.text), hidden, *([""] * (len(surveys.SCALE) + 1)))
            continue
        table.add_row(
            escape(q.question.text),
            f"{q.mean:.2f}" if q.mean is not None else "-",
            *(str(q.counts[s]) for s in surveys.SCALE),
            str(q.dont_know),
        )
    out.print(table)
    if result.comments:
        out.print("comments (shuffled):")
        for c in result.comments:
            out.print(f"- {c}", markup=False)


# --- report: retrospective reports --------------------------------------------------------


class ReportFormat(StrEnum):
    html = "html"
    md = "md"
    pdf = "pdf"


def _date_option(value: str | None, name: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise UserError(f"{name}: expected YYYY-MM-DD, got {value!r}") from None


@app.command()
def report(
    ctx: typer.Context,
    team: Annotated[
        str | None, typer.Option("--team", "-t", help="The team (name or slug).")
    ] = None,
    from_: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="First day (YYYY-MM-DD); default: the end of the team's previous report, "
            "else 4 weeks before --to.",
        ),
    ] = None,
    to: Annotated[str | None, typer.Option("--to", help="Last day; default: today.")] = None,
    fmt: Annotated[
        ReportFormat, typer.Option("--format", "-f", help="html, md or pdf.")
    ] = ReportFormat.html,
    out_path: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Output file (with --all-teams: a directory); default: report-<team>-<end>.<ext>.",
        ),
    ] = None,
    all_teams: Annotated[
        bool, typer.Option("--all-teams", help="One report per team and an index.")
    ] = False,
) -> None:
    """Write a retrospective report: level changes, DORA keys, surveys, next steps, caveats."""
    from reports import build, flows, render

    context = _ctx(ctx)
    start, end = _date_option(from_, "--from"), _date_option(to, "--to")
    if start and end and start > end:
        raise UserError(f"--from {start} is after --to {end}")
    if (team is None) == (not all_teams):
        raise UserError("give --team T or --all-teams")
    m = _load_model(context)
    try:
        if all_teams:
            folder = out_path or Path(f"reports-{end or dt.date.today()}")
            done, index = flows.generate_all(
                context.sessions,
                context.config,
                m,
                fmt=fmt.value,
                out_dir=folder,
                start=start,
                end=end,
            )
            for g in done:
                out.print(f"wrote {g.path} ({g.start} to {g.end})", markup=False)
            out.print(f"wrote {index}", markup=False)
            return
        assert team is not None
        g = flows.generate(
            context.sessions,
            context.config,
            m,
            team=team,
            fmt=fmt.value,
            out=out_path,
            start=start,
            end=end,
        )
    except (build.ReportError, render.ChromiumMissing) as exc:
        raise UserError(str(exc)) from None
    for note in g.notes:
        err.print(f"note: {note}", markup=False)
    out.print(f"wrote {g.path} ({g.start} to {g.end})", markup=False)
