"""The one way to queue a django-q2 task: after the current transaction commits, so a worker never
reads rows that are not there yet (and nothing is queued for a change that rolled back).

Tasks are named by their dotted path in each app's `tasks.py`; those names are stored in queued
tasks and schedules, so they are the apps' public entry points.
"""

from __future__ import annotations

from django.db import transaction


def enqueue(task: str, *args, **kwargs) -> None:
    """Queue `task` (a dotted path) with these arguments once the transaction commits; at once
    outside a transaction. Keyword arguments go to django-q2 (`task_name=`, `group=`) and to the
    task alike, as `async_task` takes them."""
    from django_q.tasks import async_task   # the queue app, loaded only when a task is sent

    transaction.on_commit(lambda: async_task(task, *args, **kwargs))
