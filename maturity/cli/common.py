"""What every command of the command line shares: its consoles, its one kind of user error,
the application context of a command and the model it scores with."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from maturity.context import AppContext

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class UserError(Exception):
    """A mistake the person can fix; shown as one line, exit code 2."""


def redacted(url: str) -> str:
    """The store's URL as it may be shown: never with its password."""
    from maturity.store import engine

    return engine.redacted(url)


def app_context(ctx: typer.Context) -> AppContext:
    obj = ctx.obj
    assert isinstance(obj, AppContext)
    return obj


@contextmanager
def setting_up() -> Iterator[None]:
    """A command's imports and set-up, with the garbage collector's passes held off.

    What is imported and built here (modules, the configuration and its models) lives as long
    as the process: a pass of the collector frees nothing of it, yet its full passes go over all
    of it again as it grows: about a quarter of the CPU of a 'maturity collect' that finds
    nothing new. Afterwards it is frozen (``gc.freeze``: out of every later pass, as 'maturity
    serve' does once it has started) and the collector works as before through the command's
    work.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def load_model(context: AppContext, path: Path | None = None) -> Any:
    from maturity import model as model_mod

    try:
        return model_mod.load(path or context.config.model_path())
    except model_mod.ModelError as exc:
        raise UserError(str(exc)) from None
