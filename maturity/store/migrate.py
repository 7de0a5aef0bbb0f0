"""Alembic migrations run from code, so that ``maturity db upgrade`` needs no alembic.ini.

Alembic is imported only to migrate: checking that a store is current (what every command does
when it opens one) reads the revisions' ``revision`` and ``down_revision`` lines and the store's
``alembic_version`` row itself, which saves every command the import of alembic.
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version"


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    # ConfigParser interpolation would eat a '%' in a password.
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the store at ``url`` to ``revision`` (the newest by default)."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def head_revision() -> str:
    """The newest revision: the one no other revision revises."""
    heads = _heads()
    if len(heads) == 1:
        return heads[0]
    return _alembic_head()  # several heads (or none): alembic says what is wrong


#: a top-level ``revision = ...`` or ``down_revision: ... = ...`` line of a revision file
_ASSIGNMENT = re.compile(
    r"^(?P<name>revision|down_revision)[ \t]*(?::[^=\n]*)?=[ \t]*(?P<value>[^\n]*?)[ \t]*$",
    re.MULTILINE,
)


@functools.cache
def _heads(folder: Path = MIGRATIONS) -> tuple[str, ...]:
    # Only the two assignments are read (a regular expression and a literal per file): parsing
    # whole revision files took 10 ms of every command's start. Anything but the plain form
    # (one line each, a literal) is left to alembic, which then says what the head is.
    revisions: dict[str, tuple[str, ...]] = {}
    for path in sorted((folder / "versions").glob("*.py")):
        found: dict[str, object] = {}
        for match in _ASSIGNMENT.finditer(path.read_text(encoding="utf-8")):
            if match["name"] in found:
                return ()
            try:
                found[match["name"]] = ast.literal_eval(match["value"])
            except (ValueError, SyntaxError):
                return ()
        revision, down = found.get("revision"), found.get("down_revision")
        if not isinstance(revision, str) or "down_revision" not in found:
            return ()  # not a plain revision file: leave it to alembic
        if isinstance(down, str):
            revisions[revision] = (down,)
        else:
            revisions[revision] = (
                tuple(str(d) for d in down) if isinstance(down, tuple | list) else ()
            )
    revised = {down for downs in revisions.values() for down in downs}
    return tuple(r for r in revisions if r not in revised)


def _alembic_head() -> str:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    head = script.get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The store's revision (alembic's ``alembic_version`` row), None for an empty store."""
    with engine.connect() as conn:
        if not inspect(conn).has_table(VERSION_TABLE):
            return None
        found = [row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))]
    if len(found) > 1:
        from alembic.runtime.migration import MigrationContext

        with engine.connect() as conn:  # several heads: alembic's own error
            return MigrationContext.configure(conn).get_current_revision()
    return found[0] if found else None


def is_current(engine: Engine) -> bool:
    return current_revision(engine) == head_revision()
