"""``maturity model show`` and ``model check``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from maturity.cli.common import app_context, load_model, out

model_app = typer.Typer(help="Show or check a maturity model.", no_args_is_help=True)


ModelOption = Annotated[
    Path | None,
    typer.Option(
        "--model",
        "-m",
        help="Model file (default: the configuration's 'model', else the shipped model).",
        show_default=False,
    ),
]


@model_app.command("show")
def model_show(ctx: typer.Context, model: ModelOption = None) -> None:
    """Print the maturity model as a table: every cell's text and criteria."""
    m = load_model(app_context(ctx), model)
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
    m = load_model(app_context(ctx), file)
    kinds: dict[str, int] = {}
    for _, _, c in m.criteria():
        kinds[c.kind] = kinds.get(c.kind, 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    out.print(
        f"{file}: valid; version {m.version}; {len(m.dimensions)} dimensions, "
        f"{len(m.criteria())} criteria ({summary})",
        markup=False,
    )
