"""Generating report files: build, render, write atomically, record the run (CLI and demo)."""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from maturity.config import Config
from maturity.model import Model
from maturity.store import scores, write
from maturity.store.engine import session_scope
from reports import build, render

EXTENSIONS = {"html": "html", "md": "md", "pdf": "pdf"}


@dataclass(frozen=True)
class Generated:
    team: str
    slug: str
    path: Path
    start: dt.date
    end: dt.date
    summary: tuple[str, ...]
    notes: tuple[str, ...]


def build_for(
    session: Session,
    config: Config,
    model: Model,
    *,
    team: str,
    start: dt.date | None,
    end: dt.date | None,
    today: dt.date,
) -> build.Report:
    """The report of ``team``; an open period defaults as ``maturity report`` documents."""
    team_id, _, _ = build.find_team(session, team)
    first, last = build.default_period(session, team_id=team_id, today=today, start=start, end=end)
    return build.build_report(session, config, model, team=team, start=first, end=last)


def record(session: Session, report: build.Report, fmt: str) -> None:
    """Remember the report so the next default period starts where this one ended."""
    team_id, _, _ = build.find_team(session, report.slug)
    write.record_report_run(
        session, team_id=team_id, period_start=report.start, period_end=report.end, fmt=fmt
    )


def generate(
    sessions: sessionmaker[Session],
    config: Config,
    model: Model,
    *,
    team: str,
    fmt: str,
    out: Path | None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    today: dt.date | None = None,
) -> Generated:
    """Write one team's report to ``out`` (default ``report-<slug>-<end>.<ext>``)."""
    today = today or dt.date.today()
    with session_scope(sessions) as session:
        report = build_for(session, config, model, team=team, start=start, end=end, today=today)
    path = out or Path(f"report-{report.slug}-{report.end}.{EXTENSIONS[fmt]}")
    notes = render.write_report(report, fmt, path)
    with session_scope(sessions) as session:
        record(session, report, fmt)
    return Generated(
        report.team, report.slug, path, report.start, report.end, report.summary, tuple(notes)
    )


def generate_all(
    sessions: sessionmaker[Session],
    config: Config,
    model: Model,
    *,
    fmt: str,
    out_dir: Path,
    start: dt.date | None = None,
    end: dt.date | None = None,
    today: dt.date | None = None,
) -> tuple[list[Generated], Path]:
    """One report per team in ``out_dir`` (named by slug) and an index linking them."""
    with session_scope(sessions) as session:
        slugs = list(scores.team_names(session)["slug"])
    done = [
        generate(
            sessions,
            config,
            model,
            team=slug,
            fmt=fmt,
            out=out_dir / f"{slug}.{EXTENSIONS[fmt]}",
            start=start,
            end=end,
            today=today,
        )
        for slug in slugs
    ]
    index = out_dir / ("index.md" if fmt == "md" else "index.html")
    render.write_atomic(index, index_md(done) if fmt == "md" else index_html(done))
    return done, index


def index_md(done: list[Generated]) -> str:
    """The Markdown index: one line per team with its report's first summary sentence."""
    lines = ["# Retrospective reports", ""]
    for g in done:
        first = g.summary[0] if g.summary else ""
        lines.append(
            f"- [{render.md_escape(g.team)}]({g.path.name}) ({g.start} to {g.end}): "
            f"{render.md_escape(first)}"
        )
    return "\n".join([*lines, ""])


def index_html(done: list[Generated]) -> str:
    """The HTML index (self-contained, no script)."""
    e = html.escape
    items = "\n".join(
        f'<li><a href="{e(g.path.name)}">{e(g.team)}</a> ({g.start} to {g.end}): '
        f"{e(g.summary[0] if g.summary else '')}</li>"
        for g in done
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>Retrospective reports</title>"
        "<style>body{font:15px/1.5 system-ui,sans-serif;max-width:50rem;margin:2rem auto}</style>"
        f"</head><body><h1>Retrospective reports</h1><ul>\n{items}\n</ul></body></html>\n"
    )
