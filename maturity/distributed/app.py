"""The Celery application of the product: reliability settings for at-least-once delivery.

Tasks acknowledge late (a task is acknowledged once it finished, so a worker that dies in the
middle gives it back) and are rejected back to the queue when their process is lost; a worker
takes one task at a time per process (prefetch 1), so that a long scope never holds others
hostage. Every task is safe to run twice: a scope's lease and run key (``.leases``) make a
second delivery collect nothing twice, and scoring replaces the weeks it writes.
"""

from __future__ import annotations

from celery import Celery
from kombu import Exchange, Queue

from maturity.distributed import settings as settings_mod

app = Celery("maturity", include=["maturity.distributed.tasks"])
app.conf.update(
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_default_queue=settings_mod.COLLECT_QUEUE,
    task_queues=[Queue(name, Exchange(name), routing_key=name) for name in settings_mod.QUEUES],
    task_routes={
        "maturity.collect_scope": {"queue": settings_mod.COLLECT_QUEUE},
        "maturity.refresh": {"queue": settings_mod.COLLECT_QUEUE},
        "maturity.score_partition": {"queue": settings_mod.SCORE_QUEUE},
        "maturity.after_refresh": {"queue": settings_mod.SCORE_QUEUE},
    },
    result_expires=7 * 24 * 3600,
    result_extended=True,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
    worker_cancel_long_running_tasks_on_connection_loss=True,
    # a pool process opens its store as it starts (tasks.py): more than Celery's 4 s default
    # on a busy machine
    worker_proc_alive_timeout=60,
)


def configure(s: settings_mod.Settings) -> Celery:
    """Point the application at the broker and result backend of ``s``."""
    app.conf.update(
        broker_url=s.broker_url,
        result_backend=s.result_backend,
        broker_transport_options={"visibility_timeout": s.visibility_timeout_s},
        result_backend_transport_options={"visibility_timeout": s.visibility_timeout_s},
    )
    return app
