"""``maturity report``: retrospective reports."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from maturity.cli.common import UserError, app_context, err, load_model, out


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

    context = app_context(ctx)
    start, end = _date_option(from_, "--from"), _date_option(to, "--to")
    if start and end and start > end:
        raise UserError(f"--from {start} is after --to {end}")
    if (team is None) == (not all_teams):
        raise UserError("give --team T or --all-teams")
    m = load_model(context)
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
