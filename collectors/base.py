"""The collector contract: a source declares itself and its streams; the runner drives them.

A :class:`Source` is one declaration in the source's own folder: its name, the model of its
``[sources.NAME]`` section, the key under ``[[teams]]`` that lists what a team owns in it, and
the :class:`Collector` that lists its scopes and builds the streams of one scope. A
:class:`Stream` knows one kind of record of one scope (the pull requests of ``acme/api``): its
table and natural key, how to fetch pages since a cursor, and how to turn a raw record into a
row. The runner (``collectors.runner``) owns the rest: the collector-run row of every scope,
cursors committed with the data, and failures confined to the stream they happen in.
"""

from __future__ import annotations

import abc
import importlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from pydantic import BaseModel

from collectors.retry import SYSTEM_CLOCK, Clock
from maturity.config import Config

if TYPE_CHECKING:
    from maturity.store import tables
    from maturity.store.engine import Writer, Writers

log = logging.getLogger("collectors")

S = TypeVar("S", bound=BaseModel)


class CollectorError(Exception):
    """A scope or stream cannot be collected (bad credentials, unknown project); the message
    says what failed and what to do."""


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
    status: str = "success"  # success | partial | failed | interrupted
    records: int = 0
    skipped: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    #: stream name -> why it failed (the scope's other streams were collected)
    failed_streams: dict[str, str] = field(default_factory=dict)


@dataclass
class CollectContext:
    """Everything a source's collector gets."""

    config: Config
    sessions: Writers
    team: str | None = None
    full_refresh: bool = False
    progress: Progress = field(default_factory=NoProgress)
    #: what the API clients read the time from and wait by (``collectors.retry.Clock``)
    clock: Clock = SYSTEM_CLOCK


@dataclass
class StreamResult:
    """What one stream did: records written, malformed ones skipped, extra counts."""

    written: int = 0
    skipped: int = 0
    counts: dict[str, int] = field(default_factory=dict)


class Stream(abc.ABC):
    """One kind of record in one scope of one source.

    A stream declares its ``table`` and ``key`` (the natural key of its rows) and gets
    :meth:`store`, an upsert by that key; streams whose records fill several tables (pull
    requests and their reviews) override it. A stream that does not read pages at all (git's
    one ``git log``) overrides :meth:`run` instead.
    """

    source: str
    name: str
    #: the table the rows go to, and the columns of their natural key
    table: type[tables.Base] | None = None
    key: tuple[str, ...] = ()

    def __init__(self, scope: str) -> None:
        self.scope = scope

    def pages(self, since: str | None) -> Iterator[Page]:
        """Yield pages of raw records newer than ``since`` (None: from the beginning)."""
        raise NotImplementedError(f"{type(self).__name__} reads no pages")

    def normalize(self, raw: Any) -> Any:
        """Turn one raw record into what :meth:`store` writes; raise MalformedRecord if unfit."""
        return raw

    def store(self, session: Writer, items: list[Any]) -> int:
        """Upsert normalized rows by the declared key; returns how many records were written."""
        from maturity.store import write

        if self.table is None or not self.key:
            raise NotImplementedError(f"{type(self).__name__} declares no table and key")
        # One row per natural key: a page can hold a record twice when the list shifted.
        rows = {tuple(r[k] for k in self.key): r for r in items if r is not None}
        return write.upsert(session, self.table, list(rows.values()), key=list(self.key))

    def finish(self, session: Writer, *, complete: bool) -> dict[str, int]:
        """Called once every page is written (``complete``: the read covered everything, as on
        a first run or ``--full-refresh``); returns counts to add to the run's."""
        return {}

    def run(self, sessions: Writers, *, full_refresh: bool, progress: Progress) -> StreamResult:
        """Collect this stream; the default reads pages (see ``collectors.runner``)."""
        from collectors import runner

        return runner.run_pages(sessions, self, full_refresh=full_refresh, progress=progress)


@dataclass
class Scopes:
    """What a collector will collect: scope names, and entries it could not even list."""

    names: list[str] = field(default_factory=list)
    #: a configured entry (``acme/*``, the job list) that failed before any scope: its reason
    failed: dict[str, str] = field(default_factory=dict)


class Collector(abc.ABC, Generic[S]):
    """One source opened for one run: lists its scopes and builds the streams of one scope.

    It holds what a run shares (a client with its rate-limit budget, a connection, a job list)
    and is closed by the runner. ``scopes()`` and ``streams(scope)`` can be called on their own,
    so that one scope can be collected alone (a task per scope).
    """

    def __init__(self, ctx: CollectContext, settings: S) -> None:
        self.ctx = ctx
        self.settings = settings

    @abc.abstractmethod
    def scopes(self) -> Scopes:
        """The scopes to collect for ``ctx.team`` (or every team)."""

    @abc.abstractmethod
    def streams(self, scope: str) -> list[Stream]:
        """The streams of one scope, in order; CollectorError if the scope itself fails."""

    def close(self) -> None:
        """Release what the run held (connections)."""


class NoSettings(BaseModel):
    """The settings of a source that has no ``[sources.NAME]`` section."""


@dataclass(frozen=True)
class Source(Generic[S]):
    """One source, declared once, in its own folder (``SOURCE = Source(...)``).

    Attributes:
        name: the source's name (``github``): ``--source``, ``[sources.NAME]``, row sources.
        settings: the model of ``[sources.NAME]``; None when there is nothing to configure.
        team_key: the key under ``[[teams]]`` listing what a team owns (``github = [...]``).
        team_type: the type of that key's value, when the source checks its entries.
        collector: ``"module:Class"`` of its :class:`Collector`, imported when it runs (so that
            reading the configuration never imports a client library); None for a source that
            is only pushed to (events).
        row_sources: other ``source`` values its rows carry (``github_actions``), attributed to
            teams by this source's ownership globs.
        needs_settings: collect only when ``[sources.NAME]`` is present.
        lists_repositories: a code host: its team key lists repositories as ``owner/name``
            (other sources use them to tell a team's own checkout from a library's).
    """

    name: str
    settings: type[S] | None = None
    team_key: str | None = None
    team_type: Any = list[str]
    collector: str | None = None
    row_sources: tuple[str, ...] = ()
    needs_settings: bool = True
    lists_repositories: bool = False

    def settings_of(self, config: Config) -> S | None:
        """This source's section of ``config``, typed; None when the file has none."""
        value = config.source(self.name)
        if value is None or self.settings is None or not isinstance(value, self.settings):
            return None
        return value

    def open(self, ctx: CollectContext) -> Collector[Any] | None:
        """The collector for one run, or None when the source is not configured or pulls
        nothing."""
        if self.collector is None:
            return None
        settings: BaseModel | None = self.settings_of(ctx.config)
        if settings is None:
            if self.needs_settings:
                return None
            settings = NoSettings()
        module, _, attr = self.collector.partition(":")
        cls = getattr(importlib.import_module(module), attr)
        collector: Collector[Any] = cls(ctx, settings)
        return collector
