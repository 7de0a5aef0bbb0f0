"""The declaration of the pushed events source, apart from ``collectors.events``: validating a
configuration names every source, and a collection (which never ingests) need not build the
event models to do so."""

from __future__ import annotations

from collectors.base import NoSettings, Source

#: the source name of pushed events (their rows' ``source``)
SOURCE = "events"
#: events are pushed (``maturity ingest``, ``POST /api/v1/events``), never pulled: the source
#: has no collector, and teams own its rows by the globs of their ``services``
DECLARATION: Source[NoSettings] = Source(name=SOURCE, team_key="services")
