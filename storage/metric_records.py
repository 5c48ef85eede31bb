"""Counts and check outcomes recorded in the database for /metrics (portal/metrics.py reads them).

Several processes on several machines count the same things (a download on any web worker, a
lease takeover on any qcluster), so per-process counters would each see a part. These add to one
row per series instead, in the caller's transaction. Recording never breaks what it counts: a
database error here is logged and swallowed inside its own savepoint.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import defaultdict

from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from prometheus_client.utils import floatToGoString

from common.metrics import RECORDED, STEP_BUCKETS
from storage.models import CheckResult, MetricCount

log = logging.getLogger(__name__)


def labels_text(labels: dict) -> str:
    return json.dumps({k: str(v) for k, v in labels.items()}, sort_keys=True) if labels else ""


def _declared(name: str, labels: dict, kind: str):
    declared = RECORDED.get(name)
    if declared is None or declared.kind != kind:
        raise ValueError(f"{name!r} is not a recorded {kind} in common/metrics.py RECORDED")
    if set(labels) != set(declared.labels):
        raise ValueError(f"{name} takes the labels {declared.labels}, not {tuple(labels)}")


def count(name: str, amount: float = 1, **labels) -> None:
    """Add `amount` to the counter `name` (a key of RECORDED) with these labels."""
    _declared(name, labels, "counter")
    if amount:
        _add({(name, labels_text(labels)): amount})


# Counts taken where the caller's transaction may yet roll back (a failed storage call inside
# a service's transaction): kept in this process, written by flush_pending() when the request or
# task ends (storage/apps.py connects it), and before /metrics reads.
_pending: dict[tuple[str, str], float] = defaultdict(float)
_pending_lock = threading.Lock()


def count_soon(name: str, amount: float = 1, **labels) -> None:
    """As `count`, but written at the next flush_pending(), outside the caller's transaction."""
    _declared(name, labels, "counter")
    with _pending_lock:
        _pending[(name, labels_text(labels))] += amount


def flush_pending(**_signal) -> None:
    """Write the counts `count_soon` kept (connected to request_finished and to django-q2's
    post_execute_in_worker; a signal's arguments are ignored)."""
    with _pending_lock:
        rows = dict(_pending)
        _pending.clear()
    if rows:
        _add(rows)


def discard_pending() -> None:
    """Forget the counts `count_soon` kept (the tests, between one test and the next)."""
    with _pending_lock:
        _pending.clear()


def observe(name: str, values: list[tuple[dict, float]]) -> None:
    """Add observations [(labels, value)] to the histogram `name` (buckets: STEP_BUCKETS)."""
    rows: dict[tuple[str, str], float] = defaultdict(float)
    for labels, value in values:
        _declared(name, labels, "histogram")
        for bound in (*STEP_BUCKETS, float("inf")):
            if value <= bound:
                rows[(f"{name}:bucket", labels_text({**labels, "le": floatToGoString(bound)}))] += 1
        rows[(f"{name}:sum", labels_text(labels))] += value
    if rows:
        _add(rows)


def _add(rows: dict[tuple[str, str], float]) -> None:
    # One statement, rows in a fixed order (two writers never wait on each other crosswise).
    # INSERT ... ON CONFLICT DO UPDATE is the same on PostgreSQL and SQLite.
    table = MetricCount._meta.db_table
    ordered = sorted(rows.items())
    values = ", ".join(["(%s, %s, %s)"] * len(ordered))
    params = [item for (name, labels), amount in ordered for item in (name, labels, amount)]
    sql = (f"INSERT INTO {table} (name, labels, value) VALUES {values} "
           f"ON CONFLICT (name, labels) DO UPDATE SET value = {table}.value + excluded.value")
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)
    except DatabaseError:
        log.warning("could not record %s for /metrics", [n for (n, _), _ in ordered],
                    exc_info=True)


def record_check(check: str, *, ok: bool, problems: int = 0, detail: str = "") -> None:
    """The latest outcome of a check (`audit_chain`, `storage_drift`, ...), one row per check."""
    try:
        with transaction.atomic():
            CheckResult.objects.update_or_create(
                kind=check, defaults={"ok": ok, "problems": problems, "detail": detail[:2000],
                                       "checked_at": timezone.now()})
    except Exception:  # noqa: BLE001 - the check's own verdict must reach its caller regardless
        # (a command run before `migrate`, or where no database is configured at all)
        log.warning("could not record the %s check for /metrics", check, exc_info=True)
