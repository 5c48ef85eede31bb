"""The one way to queue a django-q2 task: after the current transaction commits, so a worker never
reads rows that are not there yet (and nothing is queued for a change that rolled back).

Tasks are named by their dotted path in each app's `tasks.py`; those names are stored in queued
tasks and schedules, so they are the apps' public entry points.

A broker that does not answer (Redis down) does not fail the request that queued the task: the
change is already committed, and the reaper queues again what nobody ran (a job, a verification,
a draft report) after its wait. The caller learns it from the returned `Sending`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import transaction

log = logging.getLogger(__name__)


@dataclass
class Sending:
    """What became of one task handed to `enqueue`: `sent` is None until the transaction
    commits, then True, or False with the broker's `error`."""

    task: str
    sent: bool | None = None
    error: str = ""


def enqueue(task: str, *args, **kwargs) -> Sending:
    """Queue `task` (a dotted path) with these arguments once the transaction commits; at once
    outside a transaction. Keyword arguments go to django-q2 (`task_name=`, `group=`) and to the
    task alike, as `async_task` takes them."""
    sending = Sending(task)
    transaction.on_commit(lambda: _send(sending, args, kwargs))
    return sending


def _send(sending: Sending, args: tuple, kwargs: dict) -> None:
    from django_q.tasks import async_task   # the queue app, loaded only when a task is sent

    try:
        async_task(sending.task, *args, **kwargs)
    except Exception as exc:  # each broker raises its own driver's errors (redis, the ORM, ...)
        sending.sent, sending.error = False, f"{type(exc).__name__}: {exc}"[:300]
        log.error("could not queue %s: %s", sending.task, sending.error)
    else:
        sending.sent = True
