"""``maturity score`` and the tables of levels and DORA keys it and ``status`` print."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from maturity.cli.common import UserError, app_context, err, load_model, out
from maturity.context import AppContext


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

    context = app_context(ctx)
    when = None
    if week is not None:
        try:
            when = dt.date.fromisoformat(week)
        except ValueError:
            raise UserError(f"--week: expected YYYY-MM-DD, got {week!r}") from None
    m = load_model(context)
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
        dimensions = load_model(context).dimensions
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


def print_maturity(context: AppContext) -> None:
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
