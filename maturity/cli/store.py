"""``maturity init``, ``db upgrade``, ``status`` and ``export``: the store and what is in it."""

from __future__ import annotations

import csv
import datetime as dt
import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from maturity import spreadsheet
from maturity.cli.common import UserError, app_context, err, out, redacted
from maturity.cli.score import print_maturity
from maturity.errors import StoreError
from maturity.store import names as store_names

if TYPE_CHECKING:
    from maturity import config as config_mod

db_app = typer.Typer(help="Manage the store's schema.", no_args_is_help=True)


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

    context = app_context(ctx)
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


def _shared_repositories(cfg: config_mod.Config) -> dict[str, list[str]]:
    """Repository name -> the teams that share it by path rules."""
    from maturity import teams

    listed: dict[str, list[tuple[str, bool]]] = {}
    for team in cfg.teams:
        for spec in cfg.repository_specs(team):
            name = spec.name or teams.repository_name(cfg.resolve(spec.location))
            listed.setdefault(name, []).append((team.name, bool(spec.paths)))
    return {n: [t for t, _ in v] for n, v in listed.items() if any(p for _, p in v)}


def status(ctx: typer.Context) -> None:
    """Show teams, repositories, counts, sources, and each team's levels and DORA keys."""
    from maturity.store import status as store_status
    from maturity.store.engine import session_scope

    context = app_context(ctx)
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
    print_maturity(context)


def _when(value: Any) -> str:
    if value is None or value != value:  # NaT/NaN
        return "never"
    return str(value.strftime("%Y-%m-%d %H:%M UTC"))


#: what 'maturity export' offers, named without importing the store
#: (``maturity.store.export.EXPORTABLE`` maps them)
EXPORT_TABLES = store_names.EXPORTABLE


class ExportFormat(StrEnum):
    csv = "csv"
    jsonl = "jsonl"


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
    context = app_context(ctx)
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
