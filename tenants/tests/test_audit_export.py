"""Monthly audit exports to the logs bucket, against the real S3 server (SeaweedFS)."""

import gzip
import hashlib
import importlib
import json
from datetime import date, datetime
from datetime import timezone as dt_timezone
from io import StringIO
from unittest import mock

import pytest
from django.apps import apps
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import timezone

from storage import s3
from storage.models import StoredObject
from tenants import audit_actions
from tenants.audit import (
    HASHED_FIELDS,
    SYSTEM,
    Actor,
    audit_record,
    canonical_values,
    chain_hasher,
)
from common.months import parse_month, previous_month
from tenants.audit_export import (
    AuditExportError,
    audit_export_month,
)
from tenants.models import AuditEvent, AuditExport
from tenants.tasks import export_audit_log

pytestmark = pytest.mark.s3
MARCH = date(2026, 3, 1)
KEY = "audit/2026/2026-03.jsonl.gz"


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=dt_timezone.utc)


def record_at(when: datetime, **kwargs) -> AuditEvent:
    with mock.patch("django.utils.timezone.now", return_value=when):
        return audit_record(**kwargs)


@pytest.fixture
def march_events(manager, outsider):
    """Events just inside and just outside March 2026 (UTC, the portal's zone in tests)."""
    who = Actor.for_user(manager.user)
    before = record_at(utc(2026, 2, 28, 23, 59, 59, 999999), actor=who, action="sample.viewed",
                       lab=manager.lab, resource_id="S-feb")
    inside = [
        record_at(utc(2026, 3, 1), actor=who, action="sample.viewed", lab=manager.lab,
                  resource_type="sample", resource_id="S-1", phi_accessed=True,
                  details={"reason": "review", "attempt": 1}),
        record_at(utc(2026, 3, 15, 8, 30), actor=Actor.for_user(outsider.user),
                  action="output.downloaded", lab=outsider.lab, data_exported=True,
                  details={"path": "results/variants.tsv", "note": "caf\u00e9 \u2603"}),
        record_at(utc(2026, 3, 31, 23, 59, 59, 999999), actor=SYSTEM, action="job.succeeded"),
    ]
    after = record_at(utc(2026, 4, 1), actor=SYSTEM, action="job.succeeded")
    return before, inside, after


def stored_bytes(key: str = KEY) -> bytes:
    body = s3.open_object(settings.MINIO_BUCKET_LOGS, key)
    try:
        return body.read()
    finally:
        body.close()


def test_it_writes_the_month_as_gzip_json_lines_with_its_checksum(provisioned_s3, march_events):
    _before, inside, _after = march_events
    export = audit_export_month(month=MARCH)

    data = stored_bytes()
    assert (export.bucket, export.key) == (settings.MINIO_BUCKET_LOGS, KEY)
    assert hashlib.sha256(data).hexdigest() == export.sha256 and len(data) == export.size
    lines = [json.loads(line) for line in gzip.decompress(data).decode().splitlines()]
    expected = AuditEvent.objects.filter(pk__in=[e.pk for e in inside]).order_by("id")
    assert [line["id"] for line in lines] == [e.pk for e in expected]
    for line, event in zip(lines, expected):
        assert (line["hash"], line["prev_hash"], line["action"], line["actor_email"],
                line["details"], line["phi_accessed"], line["data_exported"]) == (
            event.hash, event.prev_hash, event.action, event.actor_email, event.details,
            event.phi_accessed, event.data_exported)
        assert line["lab_id"] == (str(event.lab_id) if event.lab_id else None)
        # Each line carries what its hash covers, so the file can be checked without the database.
        values = [line[name] for name in HASHED_FIELDS]
        assert line["key_id"] == settings.AUDIT_KEY_ID
        assert chain_hasher(line["key_id"])(canonical_values(*values)) == line["hash"]
    assert lines[0]["created_at"] == "2026-03-01T00:00:00.000000+00:00"

    assert (export.month, export.event_count) == (MARCH, 3)
    assert (export.first_event_id, export.last_event_id) == (inside[0].pk, inside[-1].pk)
    ledger = StoredObject.objects.get(bucket=export.bucket, key=KEY, deleted_at__isnull=True)
    assert (ledger.size, ledger.sha256, ledger.lab) == (export.size, export.sha256, None)
    event = AuditEvent.objects.get(action=audit_actions.AUDIT_MONTH_ARCHIVED)
    assert event.actor_id == "system" and event.resource_id == str(export.pk)
    assert event.details["month"] == "2026-03" and event.details["sha256"] == export.sha256
    assert event.details["events"] == 3


def test_it_keeps_an_export_once_written_and_notices_when_the_file_changes(provisioned_s3,
                                                                          march_events):
    first = audit_export_month(month=MARCH)
    again = audit_export_month(month=MARCH)
    assert again.pk == first.pk and again.sha256 == first.sha256
    assert StoredObject.objects.filter(key=KEY).count() == 1
    assert AuditEvent.objects.filter(action=audit_actions.AUDIT_MONTH_ARCHIVED).count() == 1
    out = StringIO()
    call_command("export_audit", "--month", "2026-03", stdout=out)
    assert "2026-03 already exported; verified: 3 event(s)" in out.getvalue()

    bucket = settings.MINIO_BUCKET_LOGS
    s3.client().put_object(Bucket=bucket, Key=KEY, Body=gzip.compress(b'{"forged": true}\n'))
    with pytest.raises(AuditExportError, match=f"{bucket}/{KEY} no longer matches the audit "
                                               f"export recorded for 2026-03"):
        audit_export_month(month=MARCH)
    with pytest.raises(CommandError, match="no longer matches"):
        call_command("export_audit", "--month", "2026-03", stdout=StringIO())

    s3.client().delete_object(Bucket=bucket, Key=KEY)
    with pytest.raises(AuditExportError, match=f"{bucket}/{KEY} is missing from storage"):
        audit_export_month(month=MARCH)
    assert AuditExport.objects.get().sha256 == first.sha256


def test_it_writes_the_same_bytes_for_the_same_events(provisioned_s3, march_events):
    first = audit_export_month(month=MARCH)
    data = stored_bytes()
    AuditExport.objects.all().delete()
    second = audit_export_month(month=MARCH)
    assert second.sha256 == first.sha256 and stored_bytes() == data


def test_it_refuses_a_month_that_has_not_ended_and_a_malformed_month(db):
    this_month = timezone.localdate().replace(day=1)
    with pytest.raises(AuditExportError, match=f"{this_month:%Y-%m} has not ended yet"):
        audit_export_month(month=this_month)
    with pytest.raises(ValueError, match="'2026-13' is not a month: write it as YYYY-MM"):
        parse_month("2026-13")
    with pytest.raises(CommandError, match="'March' is not a month"):
        call_command("export_audit", "--month", "March")
    assert previous_month(date(2026, 1, 15)) == date(2025, 12, 1)
    assert AuditExport.objects.count() == 0


def test_it_says_which_storage_is_down(storage_down, march_events):
    with pytest.raises(CommandError, match="cannot reach the S3 server at http://127.0.0.1:"):
        call_command("export_audit", "--month", "2026-03")
    assert AuditExport.objects.count() == 0


def test_the_command_and_the_monthly_task_export_every_ended_month(provisioned_s3, march_events):
    out = StringIO()
    call_command("export_audit", "--month", "2026-03", stdout=out)
    export = AuditExport.objects.get(month=MARCH)
    assert f"2026-03 exported: 3 event(s) (#{export.first_event_id} to " \
           f"#{export.last_event_id}), {export.bucket}/{KEY}, {export.size} bytes, " \
           f"sha256 {export.sha256}" in out.getvalue()

    # The task exports the previous month and catches up on every month since the first event.
    summary = export_audit_log()
    last = previous_month()
    months = sorted(AuditExport.objects.values_list("month", flat=True))
    assert months[0] == date(2026, 2, 1) and months[-1] == last
    expected, month = [], date(2026, 2, 1)
    while month <= last:
        expected.append(month)
        month = date(month.year + (month.month == 12), month.month % 12 + 1, 1)
    assert months == expected
    assert f"{last:%Y-%m}: " in summary
    assert AuditExport.objects.get(month=date(2026, 2, 1)).event_count == 1
    assert AuditExport.objects.get(month=date(2026, 4, 1)).event_count == 1
    assert AuditExport.objects.get(month=MARCH).sha256 == export.sha256
    export_audit_log()
    assert AuditExport.objects.count() == len(expected)


def test_the_schedule_runs_monthly_from_the_first_of_next_month(db):
    from django_q.models import Schedule

    migration = importlib.import_module("tenants.migrations.0004_schedule_audit_export")
    Schedule.objects.filter(func=migration.EXPORT).delete()
    migration.schedule(apps, None)
    migration.schedule(apps, None)  # idempotent
    schedule = Schedule.objects.get(func="tenants.tasks.export_audit_log")
    assert schedule.schedule_type == Schedule.MONTHLY and schedule.repeats == -1
    first_run = timezone.localtime(schedule.next_run)
    assert (first_run.day, first_run.hour, first_run.minute) == (1, 1, 0)
    assert first_run > timezone.now()
