"""The command line: ``maturity`` and its commands, one clear line on any error.

The root application and its entry point; the commands live in one module per group (``collect``,
``store``, ``serve``, ``model``, ``score``, ``demo``, ``survey``, ``report``), which share only
``common``, and are registered here in the order ``maturity --help`` lists them.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from maturity.cli import collect, demo, model, report, score, serve, store, survey
from maturity.cli.collect import COLLECT_SOURCES
from maturity.cli.common import UserError, err, redacted
from maturity.cli.store import EXPORT_TABLES
from maturity.context import AppContext
from maturity.errors import ConfigError, StoreError

__all__ = ["COLLECT_SOURCES", "EXPORT_TABLES", "UserError", "app", "main", "redacted"]

app = typer.Typer(
    name="maturity",
    help="Score engineering teams on the DevOps maturity model from data collected from "
    "git, CI and issue trackers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

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


for command in (
    store.init,
    collect.collect,
    store.status,
    store.export,
    collect.ingest,
    serve.serve,
    serve.worker,
    serve.schedule,
    score.score,
    demo.demo,
    report.report,
):
    app.command()(command)
app.add_typer(store.db_app, name="db")
app.add_typer(model.model_app, name="model")
app.add_typer(survey.survey_app, name="survey")


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
