"""Backups and restores in the audit log (tenants/backup_audit.py): a set is an export of every
lab's data, so each set written or attempted is an event; a restore's event is written only into
a chain whose keys are configured. The full restore is in portal/tests/test_backup_restore.py."""

import hashlib
import io

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from storage import ledger, s3
from storage.backup import objects
from storage.backup.events import FINISHED, RESTORE, BackupEvent
from storage.backup.manifest import read_manifest
from storage.buckets import bucket_name
from storage.s3 import StorageError
from tenants import audit_actions
from tenants.audit import SYSTEM, audit_record, verify_chain
from tenants.backup_audit import audit_backup_event
from tenants.models import AuditEvent

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.skipif("postgresql" not in settings.DATABASES["default"]["ENGINE"],
                                 reason="a backup needs PostgreSQL (pg_dump)")]


def test_it_records_each_set_written_with_what_it_holds(provisioned_s3, tmp_path):
    results = bucket_name("results")
    s3.put_bytes(results, "lab/job/a.txt", b"first", content_type="text/plain")
    s3.put_bytes(results, "lab/job/a.txt", b"second", content_type="text/plain")
    ledger.record_put(bucket=results, key="lab/job/a.txt", size=6,
                      sha256=hashlib.sha256(b"second").hexdigest())

    call_command("backup", str(tmp_path), stdout=io.StringIO())

    (set_dir,) = tmp_path.iterdir()
    described = read_manifest(set_dir)
    (event,) = AuditEvent.objects.filter(action=audit_actions.BACKUP_WRITTEN)
    assert event.actor_id == SYSTEM.id and event.lab_id is None
    assert event.data_exported and event.phi_accessed
    assert event.resource_type == "backup_set" and event.resource_id == set_dir.name
    details = event.details
    assert details["outcome"] == "finished" and details["via"] == "command"
    assert details["target"] == str(tmp_path) and details["where"] == str(set_dir)
    assert details["versions"] == described["versions"] == 2
    assert details["bytes"] == described["bytes"] == len(b"first") + len(b"second")
    assert details["database_sha256"] == described["database"]["sha256"]
    assert details["cross_check"]["ok"] and details["cross_check"]["live_objects"] == 1
    assert verify_chain()[1] is None


def test_it_records_a_backup_that_failed_half_way(provisioned_s3, tmp_path, monkeypatch):
    s3.put_bytes(bucket_name("results"), "lab/job/a.txt", b"x", content_type="text/plain")

    def unreadable(entry, blobs):
        raise StorageError(f"cannot read {entry['key']}: the server is gone")

    monkeypatch.setattr(objects, "copy_out", unreadable)
    with pytest.raises(CommandError, match="the server is gone"):
        call_command("backup", str(tmp_path), stdout=io.StringIO())
    (event,) = AuditEvent.objects.filter(action=audit_actions.BACKUP_WRITTEN)
    assert event.details["outcome"] == "failed" and "the server is gone" in event.details["error"]
    assert event.details["database_sha256"] and event.resource_id.startswith("wes-backup-")


def test_the_scheduled_backup_is_recorded_as_such(provisioned_s3, tmp_path, settings):
    from storage.backup.schedule import scheduled_backup

    settings.BACKUP_TARGET = str(tmp_path)
    scheduled_backup()
    (event,) = AuditEvent.objects.filter(action=audit_actions.BACKUP_WRITTEN)
    assert event.details["via"] == "schedule" and event.details["outcome"] == "finished"


def _restore_event() -> BackupEvent:
    return BackupEvent(RESTORE, FINISHED, "wes-backup-20261205T010000Z", "command",
                       {"database": "wes", "buckets": {"results": "wes-results"}})


def test_a_restore_is_chained_after_the_restored_events(db):
    audit_record(actor=SYSTEM, action=audit_actions.LAB_CREATED)
    assert audit_backup_event(_restore_event()) is None
    newest = AuditEvent.objects.order_by("-id").first()
    assert newest.action == audit_actions.BACKUP_RESTORED
    assert newest.details["set"] == "wes-backup-20261205T010000Z"
    assert verify_chain() == (2, None)


def test_a_restore_is_not_chained_under_keys_that_do_not_verify_the_chain(db, settings):
    audit_record(actor=SYSTEM, action=audit_actions.LAB_CREATED)
    settings.AUDIT_KEYS = {settings.AUDIT_KEY_ID: "not-the-key-the-chain-was-written-with"}
    said = audit_backup_event(_restore_event())
    assert "not in the audit log" in said and "WES_AUDIT_KEYS" in said
    assert not AuditEvent.objects.filter(action=audit_actions.BACKUP_RESTORED).exists()
