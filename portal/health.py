"""Checks behind /healthz: can the portal reach its database, its storage and its task queue?"""

from __future__ import annotations

from django.conf import settings
from django.db import connection

from storage.health import check_storage


def check_database() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return {"ok": True, "vendor": connection.vendor}
    except Exception as exc:  # any driver error means "down"; the message says which
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}".strip()[:300]}


def check_work_disk() -> dict:
    """Free space where this machine's runs work (WES_WORK_DIR), against the margin a run needs."""
    from jobs.runs.workspace import free_bytes, work_root

    try:
        free = free_bytes()
    except OSError as exc:
        return {"ok": False, "path": str(work_root()), "error": str(exc)}
    result = {"ok": free >= settings.WORK_MIN_FREE_BYTES, "path": str(work_root()),
              "free_bytes": free}
    if not result["ok"]:
        result["error"] = (f"the worker's disk is full: {free} bytes free, at least "
                           f"{settings.WORK_MIN_FREE_BYTES} (WES_WORK_MIN_FREE_BYTES) wanted")
    return result


def check_queue() -> dict:
    """The broker must answer, and at least one worker cluster must be running.

    django-q2 clusters publish their status to the shared cache with a 3-second expiry, so any
    status found belongs to a cluster that is alive now."""
    from django_q.brokers import get_broker
    from django_q.status import Stat

    broker_name = "redis" if "redis" in settings.Q_CLUSTER else "orm"
    try:
        broker = get_broker()
        broker.ping()
        queued = broker.queue_size()
        clusters = Stat.get_all(broker=broker)
    except Exception as exc:  # a broker that cannot be reached raises driver-specific errors
        return {"ok": False, "broker": broker_name, "error": f"{type(exc).__name__}: {exc}"[:300]}
    result = {"ok": bool(clusters), "broker": broker_name, "clusters": len(clusters),
              "queued": queued}
    if not clusters:
        result["error"] = "no worker cluster is running: start `manage.py qcluster`"
    return result


def run_checks() -> dict:
    checks = {"database": check_database(), "storage": check_storage(), "queue": check_queue(),
              "work_disk": check_work_disk()}
    return {"status": "ok" if all(c["ok"] for c in checks.values()) else "error",
            "checks": checks}
