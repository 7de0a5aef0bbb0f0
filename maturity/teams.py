"""Teams and what they own: sync from the configuration, attribute collected rows to teams.

Collected rows carry the ``scope`` they came from (a Jenkins job, a Jira project, a GitHub
repository); the team is derived from the ownership globs, and re-derived whenever the
configuration changes, so moving a job to another team needs no re-collection.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import os
import re
import secrets
import unicodedata
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, delete, func, insert, select, update

from maturity import config as config_mod
from maturity.config import Config, TeamConfig
from maturity.store import schema, write

if TYPE_CHECKING:
    from maturity.store.engine import Writer

#: the source whose ownership globs are the team's ``services`` (events pushed from any CI)
EVENTS = "events"
#: the ownership source of monorepo path rules (``repository:glob``), shown with what a team owns
PATHS = "paths"
_SCOPED_TABLES: tuple[Table, ...] = (schema.builds, schema.deployments, schema.issues)


def slugify(name: str) -> str:
    """A URL-safe identifier for a team name (any script survives as its ASCII fold or hex)."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", folded.lower()).strip("-")
    if not slug:
        slug = "team-" + hashlib.sha256(name.encode()).hexdigest()[:8]
    return slug


def repository_key(location: str) -> str:
    """The natural key of a git repository: its resolved location."""
    return "git:" + location


def repository_name(location: str) -> str:
    tail = location.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    return tail.removesuffix(".git") or location


def sync(session: Writer, config: Config) -> dict[str, int]:
    """Make the teams, ownership and git repositories of the store match the configuration.

    Teams no longer configured are kept (their history stays visible) but own nothing.

    Returns:
        team name to team id.
    """
    # Core statements throughout (here and in what a collection runs): no ORM unit of work,
    # so a collection never configures the mappers.
    T = schema.teams
    ids: dict[str, int] = {}
    existing = {name: (team_id, slug) for team_id, name, slug in session.execute(select(T))}
    used_slugs = {slug for _, slug in existing.values()}
    for team_cfg in config.teams:
        if team_cfg.name in existing:
            ids[team_cfg.name] = existing[team_cfg.name][0]
            continue
        slug = base = slugify(team_cfg.name)
        n = 2
        while slug in used_slugs:
            slug, n = f"{base}-{n}", n + 1
        used_slugs.add(slug)
        ids[team_cfg.name] = int(
            session.execute(
                insert(T).values(name=team_cfg.name, slug=slug).returning(T.c.id)
            ).scalar_one()
        )
    wanted = {
        (ids[team_cfg.name], source, p)
        for team_cfg in config.teams
        for source, team_key in scoped_sources()
        for p in team_cfg.owns(team_key)
    }
    wanted |= _path_rules(config, ids)
    own = schema.ownership
    stored = {
        (r[1], r[2], r[3]): r[0]
        for r in session.execute(select(own.c.id, own.c.team_id, own.c.source, own.c.pattern))
    }
    # Only what changed is written: a configuration that did not change writes nothing.
    gone = [row_id for rule, row_id in stored.items() if rule not in wanted]
    if gone:
        session.execute(delete(own).where(own.c.id.in_(gone)))
    rows = [{"team_id": t, "source": s, "pattern": p} for t, s, p in sorted(wanted - set(stored))]
    write.upsert(session, own, rows, key=["team_id", "source", "pattern"], update=[])
    # a repository that a team lists with paths is shared: no one team owns it whole, its
    # commits go to teams by path when scored (maturity.attribution)
    shared = {
        config.resolve(spec.location)
        for team_cfg in config.teams
        for spec in config.repository_specs(team_cfg)
        if spec.paths
    }
    for team_cfg in config.teams:
        for spec in config.repository_specs(team_cfg):
            location = config.resolve(spec.location)
            upsert_repository(
                session,
                key=repository_key(location),
                kind="git",
                name=spec.name or repository_name(location),
                location=location,
                default_branch=spec.default_branch,
                team_id=None if location in shared else ids[team_cfg.name],
            )
    reattribute(session)
    return ids


def _path_rules(config: Config, ids: dict[str, int]) -> set[tuple[int, str, str]]:
    """Ownership rows (team, :data:`PATHS`, ``repository:glob``) of the path rules of shared
    repositories, so that pages listing what a team owns show its part of a monorepo. Scoring
    reads the rules from the configuration (``maturity.attribution``), not from these rows."""
    listed: dict[str, list[tuple[str, list[str]]]] = {}
    for team_cfg in config.teams:
        for spec in config.repository_specs(team_cfg):
            location = config.resolve(spec.location)
            name = spec.name or repository_name(location)
            listed.setdefault(name, []).append((team_cfg.name, spec.paths))
    return {
        (ids[team], PATHS, f"{name}:{glob}")
        for name, teams_paths in listed.items()
        if any(globs for _, globs in teams_paths)
        for team, globs in teams_paths
        for glob in globs or ["**"]
    }


def scoped_sources() -> list[tuple[str, str]]:
    """(source, team key) of every source whose rows are attributed by scope glob; git is not
    one of them (its repositories are listed by location, each with its team)."""
    found = [(EVENTS, "services")]
    for spec in config_mod.source_specs():
        if spec.team_key and spec.team_key != "repositories" and spec.name != EVENTS:
            found.append((spec.name, spec.team_key))
    return found


def rules_of(source: str) -> str:
    """The source whose ownership globs attribute rows of ``source`` (Actions runs -> github)."""
    for spec in config_mod.source_specs():
        if source in getattr(spec, "row_sources", ()):
            return spec.name
    return source


def is_cloned(session: Writer, slug: str) -> bool:
    """Whether a team clones the repository ``owner/name`` (its git history comes from git)."""
    count = session.scalar(
        select(func.count())
        .select_from(schema.repositories)
        .where(
            schema.repositories.c.kind == "git",
            func.lower(schema.repositories.c.slug) == slug.lower(),
        )
    )
    return bool(count)


def upsert_repository(
    session: Writer,
    *,
    key: str,
    kind: str,
    name: str,
    location: str,
    team_id: int | None,
    default_branch: str | None = None,
    slug: str | None = None,
) -> int:
    """Create or update a repository row; returns its id."""
    R = schema.repositories
    values: dict[str, Any] = {"name": name, "location": location, "team_id": team_id}
    if default_branch is not None:
        values["default_branch"] = default_branch
    if slug is not None:
        values["slug"] = slug
    row = session.execute(
        select(R.c.id, *(R.c[c] for c in values)).where(R.c.key == key)
    ).one_or_none()
    if row is None:
        stmt = insert(R).values(key=key, kind=kind, **values).returning(R.c.id)
        return int(session.execute(stmt).scalar_one())
    # only what changed is written, as the unit of work did: an unchanged repository is not
    changed = {c: v for c, v in values.items() if getattr(row, c) != v}
    if changed:
        session.execute(update(R).where(R.c.id == row.id).values(**changed))
    return int(row.id)


def repository_for_events(session: Writer, name: str) -> int:
    """The repository that pull-request events naming ``name`` belong to.

    The one repository of that name a collector knows (git, GitHub), or else one of their own
    (kind ``events``, key ``events:NAME``) owned by the ``services`` globs. Pull requests sent
    before a collector knew the repository move to it (where it has the number already, its
    own row stays), so that none is counted twice.
    """
    repositories, pull_requests = schema.repositories, schema.pull_requests
    R, P = repositories.c, pull_requests.c
    known = session.scalars(select(R.id).where(R.name == name, R.kind != "events")).all()
    if len(known) != 1:
        return upsert_repository(
            session,
            key=f"events:{name}",
            kind="events",
            name=name,
            location=name,
            team_id=owner_of(session, EVENTS, name),
        )
    target = int(known[0])
    own = session.scalar(select(R.id).where(R.key == f"events:{name}"))
    if own is not None:
        taken = select(P.number).where(P.repository_id == target).scalar_subquery()
        session.execute(delete(pull_requests).where(P.repository_id == own, P.number.in_(taken)))
        session.execute(
            update(pull_requests).where(P.repository_id == own).values(repository_id=target)
        )
        session.execute(delete(repositories).where(R.id == own))
    return target


def owner_of(session: Writer, source: str, scope: str) -> int | None:
    """The team that owns ``scope`` in ``source``: the longest matching glob wins."""
    rules = session.execute(
        select(schema.ownership.c.team_id, schema.ownership.c.pattern).where(
            schema.ownership.c.source == source
        )
    ).all()
    return _match([(r[0], r[1]) for r in rules], scope)


def owning_team(config: Config, team_key: str, scope: str) -> TeamConfig | None:
    """The configured team whose ``team_key`` globs own ``scope`` (the longest glob wins)."""
    rules = [(i, p) for i, team in enumerate(config.teams) for p in team.owns(team_key)]
    found = _match(rules, scope)
    return config.teams[found] if found is not None else None


def _match(rules: Sequence[tuple[int, str]], scope: str) -> int | None:
    best: tuple[int, int] | None = None
    for team_id, pattern in rules:
        if fnmatch.fnmatchcase(scope.casefold(), pattern.casefold()):
            rank = len(pattern.replace("*", ""))
            if best is None or rank > best[0]:
                best = (rank, team_id)
    return best[1] if best else None


def reattribute(session: Writer) -> None:
    """Recompute ``team_id`` of every scoped row from the ownership rules (one UPDATE a scope)."""
    rules_by_source: dict[str, list[tuple[int, str]]] = {}
    own, R = schema.ownership, schema.repositories
    for team_id, source, pattern in session.execute(
        select(own.c.team_id, own.c.source, own.c.pattern)
    ):
        rules_by_source.setdefault(source, []).append((team_id, pattern))
    # repositories known only from pull-request events belong to whoever owns their name
    events_repos = session.execute(select(R.c.id, R.c.name).where(R.c.kind == "events")).all()
    for repo_id, name in events_repos:
        owner = _match(rules_by_source.get(EVENTS, []), name)
        session.execute(
            update(R)
            .where(R.c.id == repo_id, R.c.team_id.is_distinct_from(owner))
            .values(team_id=owner)
        )
    repo_team = dict(session.execute(select(R.c.id, R.c.team_id)).all())
    for model in _SCOPED_TABLES:
        table = write.table_of(model)
        pairs = session.execute(select(table.c.source, table.c.scope).distinct()).all()
        for source, scope in pairs:
            owner = _match(rules_by_source.get(rules_of(source), []), scope)
            # only rows whose owner changed are written: a collection that changed nothing
            # leaves the store as it was
            session.execute(
                update(table)
                .where(
                    table.c.source == source,
                    table.c.scope == scope,
                    table.c.team_id.is_distinct_from(owner),
                )
                .values(team_id=owner)
            )
        if "repository_id" not in table.c:
            continue
        # Rows tied to a repository fall back to the repository's team.
        for repo_id, repo_team_id in repo_team.items():
            if repo_team_id is None:
                continue
            session.execute(
                update(table)
                .where(table.c.repository_id == repo_id, table.c.team_id.is_(None))
                .values(team_id=repo_team_id)
            )


_SALT_KEY = "author_salt"


def author_salt(session: Writer) -> bytes:
    """The salt of author hashes: ``MATURITY_AUTHOR_SALT`` if set, else one kept in the store."""
    env = os.environ.get("MATURITY_AUTHOR_SALT")
    if env:
        return env.encode()
    meta = schema.meta
    value = session.scalar(select(meta.c.value).where(meta.c.key == _SALT_KEY))
    if value is None:
        value = secrets.token_hex(32)
        session.execute(insert(meta).values(key=_SALT_KEY, value=value))
    return str(value).encode()


def hash_identity(salt: bytes, identity: str) -> str:
    """A salted, irreversible stand-in for a person: enough to count, never to name."""
    return hmac.new(salt, identity.strip().casefold().encode(), hashlib.sha256).hexdigest()[:32]
