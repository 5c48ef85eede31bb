"""Monthly audit exports: one month of the audit log as gzip-compressed JSON Lines in the logs
bucket, with its SHA-256 recorded, so each month can be kept and checked outside the database.

Each line is one event with every column, `hash`, `prev_hash` and `key_id` included, so the chain
can be checked again from the files alone (with the audit key the line names). The bytes are deterministic (sorted keys, gzip without a
timestamp), so an export written twice is the same object with the same checksum.
"""

from __future__ import annotations

import gzip
import json
import tempfile
from dataclasses import dataclass
from datetime import date, datetime
from datetime import timezone as dt_timezone

from django.db import transaction
from django.utils import timezone

from storage import keys, s3
from storage.buckets import bucket
from storage.checksums import HashingStream, size_and_sha256
from storage.ledger import record_put
from common.months import month_bounds, previous_month, shift_month
from tenants import audit_actions
from tenants.audit import SYSTEM, Actor, audit_record, lock_chain
from tenants.models import AuditEvent, AuditExport

EXPORT_FIELDS = ("id", "created_at", "actor_id", "actor_email", "lab_id", "action",
                 "resource_type", "resource_id", "details", "phi_accessed", "data_exported",
                 "ip_address", "user_agent", "request_id", "prev_hash", "hash", "key_id")
READ_CHUNK = 1024 * 1024


class AuditExportError(Exception):
    """An export that cannot be written or no longer matches what was recorded, in one sentence."""


@dataclass
class _Written:
    size: int = 0
    sha256: str = ""
    count: int = 0
    first_id: int | None = None
    last_id: int | None = None


def _event_line(row: tuple) -> bytes:
    event = dict(zip(EXPORT_FIELDS, row))
    event["created_at"] = event["created_at"].astimezone(dt_timezone.utc).isoformat(
        timespec="microseconds")
    event["lab_id"] = str(event["lab_id"]) if event["lab_id"] else None
    return json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode() \
        + b"\n"


def _write_month(handle, start: datetime, end: datetime) -> _Written:
    """Stream the month's events into `handle` as gzip JSON Lines; memory stays at one chunk."""
    written = _Written()
    target = HashingStream(handle)
    rows = (AuditEvent.objects.filter(created_at__gte=start, created_at__lt=end).order_by("id")
            .values_list(*EXPORT_FIELDS).iterator(chunk_size=5000))
    # mtime=0 and no file name: the same events give the same bytes, so a rerun is recognisable.
    with gzip.GzipFile(fileobj=target, mode="wb", mtime=0, filename="") as packed:
        for row in rows:
            packed.write(_event_line(row))
            written.count += 1
            written.first_id = row[0] if written.first_id is None else written.first_id
            written.last_id = row[0]
    handle.flush()
    written.size, written.sha256 = target.size, target.sha256
    return written


def _stored_checksum(bucket_name: str, key: str) -> tuple[int, str] | None:
    """(size, sha256) of the object as the server returns it, or None when it is not there."""
    if s3.object_size(bucket_name, key) is None:
        return None
    body = s3.open_object(bucket_name, key)
    try:
        return size_and_sha256(iter(lambda: body.read(READ_CHUNK), b""))
    finally:
        body.close()


def audit_export_verify(*, export: AuditExport) -> None:
    """Raise AuditExportError unless the stored file still has the recorded size and SHA-256,
    and the database still holds exactly the events that were exported for that month."""
    where = f"{export.bucket}/{export.key}"
    stored = _stored_checksum(export.bucket, export.key)
    if stored is None:
        raise AuditExportError(f"the audit export of {export.month:%Y-%m} is recorded, but {where} "
                               "is missing from storage (deleted, or expired by the logs bucket's "
                               "lifecycle rule)")
    size, sha256 = stored
    if (size, sha256) != (export.size, export.sha256):
        raise AuditExportError(f"{where} no longer matches the audit export recorded for "
                               f"{export.month:%Y-%m}: {size} bytes with SHA-256 {sha256}, "
                               f"recorded {export.size} bytes with SHA-256 {export.sha256}")
    start, end = month_bounds(export.month)
    count = AuditEvent.objects.filter(created_at__gte=start, created_at__lt=end).count()
    if count != export.event_count:
        raise AuditExportError(f"the database holds {count} audit event(s) for "
                               f"{export.month:%Y-%m}, but its export {where} has "
                               f"{export.event_count}")


def audit_export_month(*, month: date, actor: Actor = SYSTEM) -> AuditExport:
    """Write one ended month of audit events to the logs bucket, once.

    The month's events are streamed to a temporary gzip file (bounded memory), uploaded, read back
    and checked against the SHA-256 taken while writing, and only then recorded: the AuditExport
    row, the object ledger and an audit event commit together. A month already exported is
    verified and kept, never rewritten; a month that has not ended is refused.
    """
    month = month.replace(day=1)
    start, end = month_bounds(month)
    if end > timezone.now():
        raise AuditExportError(f"{month:%Y-%m} has not ended yet; only a past month can be "
                               "exported")
    existing = AuditExport.objects.filter(month=month).first()
    if existing is not None:
        audit_export_verify(export=existing)
        return existing

    # A writer that took its timestamp before the month ended may not have committed yet: the
    # chain lock is held until it does, so taking it once means every event of the month is in.
    with transaction.atomic():
        lock_chain()

    rule = bucket("logs")
    key = keys.audit_export_key(month)
    with tempfile.NamedTemporaryFile(prefix="audit-export-", suffix=".jsonl.gz") as spool:
        written = _write_month(spool, start, end)
        s3.upload_path(rule.name, key, spool.name, encrypt=rule.encrypted,
                       metadata={"sha256": written.sha256, "events": str(written.count)})
    if _stored_checksum(rule.name, key) != (written.size, written.sha256):
        raise AuditExportError(f"{rule.name}/{key} does not read back as written (expected "
                               f"{written.size} bytes with SHA-256 {written.sha256}); nothing "
                               "was recorded, run the export again")

    with transaction.atomic():
        export, created = AuditExport.objects.get_or_create(month=month, defaults={
            "bucket": rule.name, "key": key, "size": written.size, "sha256": written.sha256,
            "event_count": written.count, "first_event_id": written.first_id,
            "last_event_id": written.last_id})
        if not created:
            # Another worker finished the same month first; the bytes are deterministic, so its
            # object is the one just written again.
            return export
        record_put(bucket=rule.name, key=key, size=written.size, sha256=written.sha256)
        audit_record(actor=actor, action=audit_actions.AUDIT_MONTH_ARCHIVED,
                     resource_type="audit_export", resource_id=export.pk,
                     details={"month": f"{month:%Y-%m}", "bucket": rule.name, "key": key,
                              "size": written.size, "sha256": written.sha256,
                              "events": written.count, "first_event_id": written.first_id,
                              "last_event_id": written.last_id})
    return export


def audit_export_due(*, actor: Actor = SYSTEM, today: date | None = None) -> list[AuditExport]:
    """Export the previous month, and every earlier month since the first event that was never
    exported (so a worker that was down on the first of a month catches up). Of the months
    already exported, only the previous one is verified again."""
    last = previous_month(today)
    months = [last]
    first_event = (AuditEvent.objects.order_by("created_at")
                   .values_list("created_at", flat=True).first())
    if first_event is not None:
        first = timezone.localtime(first_event).date().replace(day=1)
        done = set(AuditExport.objects.filter(month__gte=first).values_list("month", flat=True))
        month = first
        while month < last:
            if month not in done:
                months.insert(-1, month)
            month = shift_month(month, 1)
    return [audit_export_month(month=month, actor=actor) for month in months]
