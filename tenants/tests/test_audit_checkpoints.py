"""Checkpoints of the audit chain in the logs bucket, on the real S3 server (SeaweedFS)."""

import importlib
import json
from datetime import timedelta
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.utils import timezone

from storage import s3
from storage.buckets import bucket_name
from tests.helpers import browser_page_as, screenshot, tamper_with_audit_rows
from tenants import audit_actions
from tenants.audit import SYSTEM, audit_record, event_hash
from storage.keys import audit_checkpoint_key
from tenants.audit_checkpoints import audit_checkpoint, checkpoints_read
from tenants.audit_verify import audit_chain_check
from tenants.models import AuditEvent
from tenants.tasks import checkpoint_audit_chain, verify_audit_chain

pytestmark = pytest.mark.django_db


def record(n: int) -> AuditEvent:
    return audit_record(actor=SYSTEM, action="test.event", resource_type="thing",
                        resource_id=str(n), details={"n": n})


def verify_output(*args) -> str:
    out = StringIO()
    call_command("verify_audit", *args, stdout=out)
    return out.getvalue()


def test_it_writes_a_checkpoint_under_retention_and_only_when_there_is_something_new(
        provisioned_s3, settings):
    events = [record(n) for n in range(3)]
    outcome = audit_checkpoint()
    written = outcome.written
    assert (written.last_id, written.chain_value, written.count, written.key_id) == (
        events[-1].pk, events[-1].hash, 3, "test")
    assert written.key == audit_checkpoint_key(events[-1].pk, events[-1].hash)

    (stored,) = checkpoints_read()
    assert (stored.last_id, stored.chain_value, stored.count, stored.problem) == (
        events[-1].pk, events[-1].hash, 3, "")
    assert stored.lock_mode == "COMPLIANCE"
    days = (stored.server_retain_until - timezone.now()).days
    assert days in (settings.AUDIT_CHECKPOINT_RETENTION_DAYS - 1,
                    settings.AUDIT_CHECKPOINT_RETENTION_DAYS)
    body = json.loads(s3.open_object(bucket_name("logs"), written.key).read())
    assert body["format"] == "wes-audit-checkpoint/1" and body["last_id"] == events[-1].pk

    assert audit_checkpoint().skipped == "nothing new since the last checkpoint"
    more = [record(n) for n in range(3, 5)]
    later = audit_checkpoint().written
    assert (later.last_id, later.count) == (more[-1].pk, 5), "counted on from the last checkpoint"
    assert "intact: 5 event(s)" in verify_output("--no-checkpoint")
    assert "2 checkpoint(s) hold" in verify_output("--no-checkpoint")


def test_deleting_the_newest_rows_after_a_checkpoint_is_reported_as_truncation(provisioned_s3):
    events = [record(n) for n in range(6)]
    assert audit_checkpoint().written.last_id == events[-1].pk
    # The chain that is left is a perfectly good chain: only the checkpoint knows it was longer.
    tamper_with_audit_rows("DELETE FROM tenants_auditevent WHERE id >= %s", [events[4].pk])
    result = audit_chain_check(checkpoint=False)
    assert result.broken is None and result.walk.checked == 4
    (finding,) = result.checkpoints.findings
    assert finding.kind == "truncated" and finding.event_id == events[-1].pk
    assert f"the log ends at event #{events[3].pk}" in finding.message
    with pytest.raises(CommandError, match="the newest events were removed"):
        verify_output()
    # Nor does the scheduled checkpoint vouch for the shortened log.
    assert "not written: event" in checkpoint_audit_chain()


def test_a_chain_recomputed_with_the_key_contradicts_its_checkpoint(provisioned_s3, mailoutbox,
                                                                     settings):
    settings.ADMINS = [("", "security@portal.test")]
    events = [record(n) for n in range(5)]
    audit_checkpoint()
    # Someone with the database AND the audit key edits event 2 and recomputes everything after.
    tamper_with_audit_rows("UPDATE tenants_auditevent SET details = %s WHERE id = %s",
                           ['{"n": 999}', events[2].pk])
    prev_hash = events[1].hash
    for event in events[2:]:
        row = AuditEvent.objects.get(pk=event.pk)
        row.prev_hash = prev_hash
        prev_hash = event_hash(row)
        tamper_with_audit_rows("UPDATE tenants_auditevent SET prev_hash = %s, hash = %s "
                               "WHERE id = %s", [row.prev_hash, prev_hash, row.pk])

    result = audit_chain_check()
    assert result.broken is None, "the chain itself holds: it was recomputed with the key"
    assert [f.kind for f in result.checkpoints.findings] == ["recomputed"]
    assert result.checkpointed is None, "no new checkpoint vouches for it"
    assert verify_audit_chain().startswith("BROKEN: event #")
    event = AuditEvent.objects.filter(action=audit_actions.AUDIT_VERIFIED).latest("id")
    assert event.details["intact"] is False
    assert event.details["checkpoint_problems"][0]["kind"] == "recomputed"
    (alert,) = mailoutbox
    assert "no longer has the chain value" in alert.body


def test_a_checkpoint_without_retention_is_reported(provisioned_s3):
    events = [record(n) for n in range(2)]
    # A checkpoint-shaped object put without Object Lock retention (e.g. by hand, or by a server
    # that ignored the retention headers) could be deleted or overwritten at will.
    key = audit_checkpoint_key(events[-1].pk, events[-1].hash)
    s3.client().put_object(Bucket=bucket_name("logs"), Key=key, Body=json.dumps({
        "format": "wes-audit-checkpoint/1", "last_id": events[-1].pk,
        "chain_value": events[-1].hash, "count": 2, "written_at": "2026-01-01T00:00:00+00:00",
        "retain_until": "2033-01-01T00:00:00+00:00"}).encode())
    findings = audit_chain_check(checkpoint=False).checkpoints.findings
    assert [f.kind for f in findings] == ["unprotected"]
    assert "has no Object Lock retention: it could be deleted or overwritten" in findings[0].message


def test_a_deleted_checkpoint_is_still_read_behind_its_delete_marker(provisioned_s3):
    events = [record(n) for n in range(3)]
    written = audit_checkpoint().written
    s3.client().delete_object(Bucket=bucket_name("logs"), Key=written.key)   # a delete marker
    assert s3.object_info(bucket_name("logs"), written.key) is None
    tamper_with_audit_rows("DELETE FROM tenants_auditevent WHERE id = %s", [events[-1].pk])
    kinds = [f.kind for f in audit_chain_check(checkpoint=False).checkpoints.findings]
    assert kinds == ["truncated"]


def test_the_verification_checkpoints_an_intact_chain(provisioned_s3):
    events = [record(n) for n in range(4)]
    assert verify_audit_chain().startswith("intact: 4 event(s)")
    verified = AuditEvent.objects.get(action=audit_actions.AUDIT_VERIFIED)
    assert verified.details["checkpoints"] == 0
    assert verified.details["checkpoint_written"] == events[-1].pk
    assert [c.last_id for c in checkpoints_read()] == [events[-1].pk]
    assert "1 checkpoint(s) hold" in verify_audit_chain()


def test_storage_that_cannot_be_read_fails_the_check(storage_down, db):
    record(1)
    result = audit_chain_check()
    assert result.broken is None and not result.intact
    (finding,) = result.checkpoints.findings
    assert finding.kind == "storage" and "cannot reach the S3 server" in finding.message


def test_the_checkpoint_is_scheduled_daily(db):
    from django_q.models import Schedule

    migration = importlib.import_module("tenants.migrations.0008_auditchain_key_id")
    migration.schedule(apps, None)
    migration.schedule(apps, None)  # idempotent
    schedule = Schedule.objects.get(func="tenants.tasks.checkpoint_audit_chain")
    assert schedule.schedule_type == Schedule.DAILY and schedule.repeats == -1
    assert schedule.next_run > timezone.now() - timedelta(minutes=1)


def test_the_admin_shows_checkpoint_problems_and_rows_it_cannot_check(admin_client,
                                                                      provisioned_s3, settings):
    events = [record(n) for n in range(4)]
    audit_checkpoint()
    tamper_with_audit_rows("DELETE FROM tenants_auditevent WHERE id = %s", [events[-1].pk])
    verify_audit_chain()
    page = admin_client.get("/admin/tenants/auditevent/").content.decode()
    verified = AuditEvent.objects.get(action=audit_actions.AUDIT_VERIFIED)
    linked = AuditEvent.objects.filter(id__lt=verified.pk).count()
    assert f"Hash chain NOT CONFIRMED: all {linked} event(s) link up" in page
    assert (f'<ul id="checkpoint-problems">\n  <li>the log ends at '
            f"event #{events[2].pk}, but checkpoint of event #{events[3].pk}") in page

    settings.AUDIT_KEYS = {"other": "x" * 40}
    page = admin_client.get(f"/admin/tenants/auditevent/{events[0].pk}/change/").content.decode()
    assert "CANNOT BE CHECKED: audit key &#x27;test&#x27; is not in WES_AUDIT_KEYS" in page


def test_the_scheduled_checkpoint_refuses_events_rewritten_with_the_plain_hash(provisioned_s3):
    events = [record(n) for n in range(3)]
    audit_checkpoint()
    later = [record(n) for n in range(3, 5)]
    # Rows after the checkpoint rewritten without the key: the plain SHA-256, no key id.
    tamper_with_audit_rows("UPDATE tenants_auditevent SET key_id = NULL WHERE id > %s",
                           [events[-1].pk])
    prev_hash = events[-1].hash
    for event in later:
        row = AuditEvent.objects.get(pk=event.pk)
        row.prev_hash = prev_hash
        prev_hash = event_hash(row)
        tamper_with_audit_rows("UPDATE tenants_auditevent SET prev_hash = %s, hash = %s "
                               "WHERE id = %s", [row.prev_hash, prev_hash, row.pk])
    outcome = checkpoint_audit_chain()
    assert outcome.startswith(f"not written: the chain is not intact at event #{later[0].pk}")
    assert "it has no audit key" in outcome
    assert [c.last_id for c in checkpoints_read()] == [events[-1].pk]


def test_old_checkpoints_are_held_against_the_log_by_their_names(provisioned_s3, monkeypatch):
    from tenants import audit_checkpoints

    events = [record(n) for n in range(3)]
    audit_checkpoint()
    more = [record(n) for n in range(3, 5)]
    audit_checkpoint()
    monkeypatch.setattr(audit_checkpoints, "READ_IN_FULL_DAYS", -1)   # all but the newest "old"
    old, newest = checkpoints_read()
    assert (old.read, old.count, newest.read, newest.count) == (False, None, True, 5)

    tamper_with_audit_rows("DELETE FROM tenants_auditevent WHERE id > %s", [events[1].pk])
    findings = audit_chain_check(checkpoint=False).checkpoints.findings
    assert [(f.kind, f.event_id) for f in findings] == [("truncated", events[-1].pk),
                                                       ("truncated", more[-1].pk)]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_truncation_in_the_admin_in_the_browser(chromium, live_server, client, admin_user,
                                                provisioned_s3, sync_tasks):
    events = [record(n) for n in range(5)]
    page = browser_page_as(chromium, live_server, client, admin_user)
    page.goto(live_server.url + "/admin/tenants/auditevent/")
    page.click("text=Verify hash chain")
    page.wait_for_selector("#chain-check.ok")
    assert "a new one now covers event #" in page.inner_text("#chain-check")

    tamper_with_audit_rows("DELETE FROM tenants_auditevent WHERE id >= %s", [events[3].pk])
    page.click("text=Verify hash chain")
    page.wait_for_selector("#checkpoint-problems")
    assert "Hash chain NOT CONFIRMED" in page.inner_text("#chain-check")
    # The click itself wrote new events after the cut, so the log goes on past the checkpoint.
    assert "is missing from the log (which goes on to #" in page.inner_text("#checkpoint-problems")
    screenshot(page, "admin-audit-checkpoint-truncated")
    page.close()
