"""The collector contract: a source declares streams; the runner drives them per scope.

A :class:`Stream` knows one kind of record of one scope (the pull requests of ``acme/api``): how
to fetch pages since a cursor, how to turn a raw record into rows, and how to store them. The
runner (``collectors.runner``) owns the loop: cursor, fetch, normalize, upsert, advance the
cursor in the same transaction, and a collector-run row per scope.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker

from maturity.config import Config

log = logging.getLogger("collectors")


class CollectorError(Exception):
    """A scope cannot be collected (bad credentials, unknown project); the message says why."""


class MalformedRecord(Exception):
    """One raw record cannot be normalized; it is skipped with this reason, the batch goes on."""


class Progress(Protocol):
    """What a collector reports while it works (a progress bar on a terminal, nothing in tests)."""

    def start(self, label: str, total: int | None = None) -> None: ...

    def advance(self, amount: int = 1) -> None: ...

    def note(self, message: str) -> None: ...


class NoProgress:
    def start(self, label: str, total: int | None = None) -> None:
        pass

    def advance(self, amount: int = 1) -> None:
        pass

    def note(self, message: str) -> None:
        log.info("%s", message)


@dataclass(frozen=True)
class Page:
    """One page of raw records and the cursor value that is safe to store once it is written."""

    records: Sequence[Any]
    cursor: str | None = None


@dataclass
class ScopeResult:
    """The outcome of collecting one scope of one source."""

    source: str
    scope: str
    status: str = "success"  # success | failed | partial
    records: int = 0
    skipped: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    error: str | None = None


@dataclass
class CollectContext:
    """Everything a source's ``collect`` function gets."""

    config: Config
    sessions: sessionmaker[Session]
    team: str | None = None
    full_refresh: bool = False
    progress: Progress = field(default_factory=NoProgress)


class Stream(abc.ABC):
    """One kind of record in one scope of one source."""

    source: str
    name: str

    def __init__(self, scope: str) -> None:
        self.scope = scope

    @abc.abstractmethod
    def pages(self, since: str | None) -> Iterator[Page]:
        """Yield pages of raw records newer than ``since`` (None: from the beginning)."""

    @abc.abstractmethod
    def normalize(self, raw: Any) -> Any:
        """Turn one raw record into what :meth:`store` writes; raise MalformedRecord if unfit."""

    @abc.abstractmethod
    def store(self, session: Session, items: list[Any]) -> int:
        """Upsert normalized items by natural key; returns how many records were written."""
