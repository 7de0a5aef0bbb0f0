"""Teams: configuration sync, ownership globs, re-attribution when the configuration changes."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from maturity import config, teams
from maturity.store import tables, write
from maturity.store.engine import session_scope

pytestmark = pytest.mark.integration

WHEN = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)


def _config(tmp_path: Path, body: str) -> config.Config:
    path = tmp_path / "maturity.toml"
    path.write_text(body)
    return config.load(path)


def _build(source: str, scope: str, n: int) -> dict[str, object]:
    return {
        "source": source,
        "scope": scope,
        "external_id": str(n),
        "job": scope,
        "number": n,
        "result": "success",
        "started_at": WHEN,
    }


def _owners(session: Session) -> dict[str, str | None]:
    rows = session.execute(
        select(tables.Build.scope, tables.Team.name).outerjoin(
            tables.Team, tables.Team.id == tables.Build.team_id
        )
    ).all()
    return {scope: team for scope, team in rows}


def test_most_specific_glob_wins_and_config_changes_move_rows(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    first = _config(
        tmp_path,
        '[[teams]]\nname = "platform"\njenkins = ["*"]\n'
        '[[teams]]\nname = "payments"\njenkins = ["payments/*"]\n'
        '[[teams]]\nname = "web"\ngithub = ["acme/web"]\n',
    )
    with session_scope(sessions) as s:
        teams.sync(s, first)
        write.upsert(
            s,
            tables.Build,
            [
                _build("jenkins", "payments/api", 1),
                _build("jenkins", "infra/terraform", 2),
                _build("github_actions", "acme/web", 3),
                _build("github_actions", "acme/other", 4),
            ],
            key=["source", "scope", "external_id"],
        )
        teams.reattribute(s)
        assert _owners(s) == {
            "payments/api": "payments",
            "infra/terraform": "platform",
            "acme/web": "web",
            "acme/other": None,
        }
    second = _config(
        tmp_path,
        '[[teams]]\nname = "platform"\njenkins = ["*"]\n'
        '[[teams]]\nname = "payments"\n'
        '[[teams]]\nname = "web"\ngithub = ["acme/*"]\n',
    )
    with session_scope(sessions) as s:
        teams.sync(s, second)
        assert _owners(s) == {
            "payments/api": "platform",
            "infra/terraform": "platform",
            "acme/web": "web",
            "acme/other": "web",
        }


def test_slugs_are_unique_and_url_safe(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    cfg = _config(
        tmp_path,
        '[[teams]]\nname = "Payments & Billing"\n[[teams]]\nname = "payments billing"\n'
        '[[teams]]\nname = "<script>"\n[[teams]]\nname = "Équipe données"\n',
    )
    with session_scope(sessions) as s:
        teams.sync(s, cfg)
        slugs = dict(s.execute(select(tables.Team.name, tables.Team.slug)).all())
    assert slugs == {
        "Payments & Billing": "payments-billing",
        "payments billing": "payments-billing-2",
        "<script>": "script",
        "Équipe données": "equipe-donnees",
    }


def test_author_hash_is_stable_salted_and_not_the_identity(
    sessions: sessionmaker[Session],
) -> None:
    with session_scope(sessions) as s:
        salt = teams.author_salt(s)
        again = teams.author_salt(s)
    assert salt == again
    digest = teams.hash_identity(salt, "Ada@Example.com ")
    assert digest == teams.hash_identity(salt, "ada@example.com")
    # 32 hex digits and nothing else: no part of the address can be read in it (a test that
    # looked for "ada" failed once in about 70 runs, on a digest whose hex spelled it)
    assert re.fullmatch(r"[0-9a-f]{32}", digest)
    assert digest != teams.hash_identity(b"another salt", "ada@example.com")
