"""The running product's context: configuration, store engine and sessions, opened once."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy import Connection, Engine
    from sqlalchemy.orm import Session, sessionmaker

    from maturity import config as config_mod


@dataclass
class AppContext:
    """Lazily opens what a command needs; a command that needs no store opens none."""

    config_path: Path | None = None

    # The store's modules are imported when first needed, so that a command that opens no
    # store (``maturity --help``) does not pay for SQLAlchemy.

    @cached_property
    def config(self) -> config_mod.Config:
        from maturity import config as config_mod

        return config_mod.load(self.config_path)

    @cached_property
    def url(self) -> str:
        from maturity.store import engine as engine_mod

        return engine_mod.resolve_url(self.config.store.url, self.config.base_dir)

    @cached_property
    def engine(self) -> Engine:
        from maturity.store import engine as engine_mod
        from maturity.store import migrate

        engine = engine_mod.make_engine(self.url)
        try:
            current = migrate.is_current(engine)
        except Exception as exc:
            raise engine_mod.StoreError(
                f"cannot open the store at {engine_mod.redacted(self.url)}: {_first_line(exc)}"
            ) from None
        if not current:
            migrate.upgrade(self.url)
        return engine

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        from maturity.store import engine as engine_mod

        return engine_mod.make_sessionmaker(self.engine)

    @cached_property
    def connections(self) -> Callable[[], Connection]:
        """Core connections to the store, for what needs no mapped objects (a collection):
        unlike :attr:`sessions`, they never import ``sqlalchemy.orm``."""
        return self.engine.connect

    def close(self) -> None:
        if "engine" in self.__dict__:
            self.engine.dispose()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
