"""Scale-out: collection and scoring as Celery tasks on many workers over one PostgreSQL store.

- :mod:`.settings`: ``[distributed]`` with its environment overrides; PostgreSQL or a refusal.
- :mod:`.app`: the Celery application (late acknowledgement, redelivery of a dead worker's task).
- :mod:`.leases`: one worker at a time per (source, scope), a lease row in PostgreSQL.
- :mod:`.budgets`: API rate-limit budgets and per-host concurrency shared through Redis.
- :mod:`.partitions`: teams split into scoring partitions.
- :mod:`.tasks`: the tasks (collect one scope, score one partition, the scheduled refresh).
- :mod:`.commands`: what ``maturity worker``, ``collect --distributed``, ``score --distributed``
  and ``maturity schedule`` run.

The embedded single-process path never imports this package.
"""
