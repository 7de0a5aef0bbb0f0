"""Wires the packages above the core into it: the sources' configuration, for validation.

The core (``maturity.config``) never imports the collectors; every entry point (the command
line, the web application, the tests) calls :func:`wire` first. Importing the collectors waits
until a configuration is validated, so a command that reads none never pays for them.
"""

from __future__ import annotations

from collections.abc import Iterable

from maturity import config


def sources() -> Iterable[config.SourceSpec]:
    """The declarations of ``collectors.SOURCES``, in the order ``maturity collect`` runs them."""
    import collectors

    return collectors.SOURCES.values()


def wire() -> None:
    """Let configurations name the registered sources' sections and team keys."""
    config.use_sources(sources)
