"""``maturity survey``: open and close rounds, list them, read their results."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from maturity.cli.common import UserError, app_context, err, load_model, out

survey_app = typer.Typer(
    help="Anonymous self-assessment surveys: open rounds, hand out links, read results at k.",
    no_args_is_help=True,
)


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
    context = app_context(ctx)
    m = load_model(context)
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
        with session_scope(app_context(ctx).sessions) as session:
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

    with session_scope(app_context(ctx).sessions) as session:
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
        with session_scope(app_context(ctx).sessions) as session:
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
