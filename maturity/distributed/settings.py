"""The settings of distributed mode: ``[distributed]`` of maturity.toml, overridden by the
environment, and the refusal to run it on SQLite."""

from __future__ import annotations

import os
from dataclasses import dataclass

from sqlalchemy.engine import make_url

from maturity.config import Config, ConfigError

BROKER_ENV = "MATURITY_BROKER_URL"
RESULT_ENV = "MATURITY_RESULT_BACKEND"
BUDGET_ENV = "MATURITY_BUDGET_URL"

#: the queues a worker consumes by default
COLLECT_QUEUE = "maturity.collect"
SCORE_QUEUE = "maturity.score"
QUEUES = (COLLECT_QUEUE, SCORE_QUEUE)


class DistributedError(ConfigError):
    """Distributed mode cannot run as configured; one line says why and what to do."""


@dataclass(frozen=True)
class Settings:
    broker_url: str
    result_backend: str
    #: None: no shared budgets (a broker that is not Redis and no budget_url)
    budget_url: str | None
    max_requests_per_host: int
    lease_s: float
    visibility_timeout_s: int
    partition_size: int
    collect_every: str


def _is_redis(url: str) -> bool:
    return url.startswith(("redis://", "rediss://", "redis+socket://"))


def load(config: Config) -> Settings:
    """``[distributed]`` with ``MATURITY_BROKER_URL``, ``MATURITY_RESULT_BACKEND`` and
    ``MATURITY_BUDGET_URL`` taking precedence (where credentials belong)."""
    d = config.distributed
    broker = os.environ.get(BROKER_ENV) or d.broker_url
    result = os.environ.get(RESULT_ENV) or d.result_backend or (broker if _is_redis(broker) else "")
    if not result:
        raise DistributedError(
            f"[distributed] result_backend is needed with a broker that is not Redis "
            f"(or set {RESULT_ENV}): 'collect --distributed' follows its tasks' results"
        )
    budget = os.environ.get(BUDGET_ENV) or d.budget_url or (broker if _is_redis(broker) else None)
    return Settings(
        broker_url=broker,
        result_backend=result,
        budget_url=budget,
        max_requests_per_host=d.max_requests_per_host,
        lease_s=d.lease_s,
        visibility_timeout_s=d.visibility_timeout_s,
        partition_size=d.partition_size,
        collect_every=d.collect_every,
    )


def require_postgres(store_url: str) -> None:
    """Refuse, in one line, a store that many processes on many machines cannot share."""
    driver = make_url(store_url).drivername
    if not driver.startswith("postgresql"):
        raise DistributedError(
            f"distributed mode needs a PostgreSQL store, not {driver.split('+')[0]}: set "
            "[store] url or MATURITY_DATABASE_URL to postgresql://... (see docs/deploy.md)"
        )


def redacted(url: str) -> str:
    """A broker URL as it may be shown: never with its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("://", 1)[0] + "://***"
