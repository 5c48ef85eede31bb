import threading
import uuid
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, connections, transaction

from tests.helpers import tamper_with_audit_rows
from tenants.audit import (
    GENESIS_HASH,
    HASHED_FIELDS,
    SYSTEM,
    Actor,
    audit_record,
    canonical_json,
    canonical_values,
    event_hash,
    verify_chain,
)
from tenants.models import AuditEvent

postgres_only = pytest.mark.skipif("connection.vendor != 'postgresql'",
                                   reason="the append-only trigger exists on PostgreSQL only")


def record(n: int, **extra):
    return audit_record(actor=SYSTEM, action="test.event", resource_type="thing",
                        resource_id=str(n), details={"n": n}, **extra)


def verify_output() -> str:
    out = StringIO()
    call_command("verify_audit", stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_it_chains_each_event_to_the_one_before(provisioned_s3):
    first, second, third = record(1), record(2), record(3)
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash and third.prev_hash == second.hash
    reloaded = AuditEvent.objects.get(pk=second.pk)
    assert event_hash(reloaded) == reloaded.hash
    assert "audit chain intact: 3 event(s) verified" in verify_output()


@pytest.mark.django_db
def test_it_records_who_where_and_how_from_the_request(rf, manager):
    request = rf.get("/labs/lab-a/", HTTP_USER_AGENT="Firefox/140", REMOTE_ADDR="2001:db8::1")
    request.request_id = "req-12345678"
    event = audit_record(actor=Actor.for_user(manager.user), action="test.viewed", lab=manager.lab,
                         phi_accessed=True, data_exported=True, request=request,
                         details={"when": manager.created_at, "id": manager.pk})
    event = AuditEvent.objects.get(pk=event.pk)
    assert (event.actor_id, event.actor_email) == (f"user:{manager.user.pk}", "manager@lab-a.test")
    assert event.lab_id == manager.lab.pk
    assert event.phi_accessed and event.data_exported
    assert (event.ip_address, event.user_agent, event.request_id) == (
        "2001:db8::1", "Firefox/140", "req-12345678")
    assert event.details["id"] == str(manager.pk)
    assert event_hash(event) == event.hash


@pytest.mark.django_db
def test_it_rolls_back_with_the_action_it_records():
    record(1)
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            record(2)
            raise RuntimeError("the action failed")
    assert list(AuditEvent.objects.values_list("resource_id", flat=True)) == ["1"]
    assert record(3).prev_hash == AuditEvent.objects.get(resource_id="1").hash


@postgres_only
@pytest.mark.django_db
def test_it_refuses_update_and_delete_on_postgresql():
    event = record(1)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="tampered")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("UPDATE tenants_auditevent SET details = '{}' WHERE id = %s", [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).action == "test.event"


@pytest.mark.django_db
def test_it_reports_the_first_edited_row(provisioned_s3):
    events = [record(n) for n in range(5)]
    tamper_with_audit_rows("UPDATE tenants_auditevent SET details = %s WHERE id = %s",
                                 ['{"n": 999}', events[2].pk])
    checked, broken = verify_chain()
    assert broken is not None and broken.event_id == events[2].pk
    assert "edited" in broken.reason
    with pytest.raises(CommandError, match=f"broken at event #{events[2].pk}"):
        verify_output()


@pytest.mark.django_db
def test_it_reports_a_removed_row():
    events = [record(n) for n in range(4)]
    tamper_with_audit_rows("DELETE FROM tenants_auditevent WHERE id = %s", [events[1].pk])
    _checked, broken = verify_chain()
    assert broken.event_id == events[2].pk and "removed" in broken.reason


@pytest.mark.django_db(transaction=True)
def test_it_keeps_one_chain_when_eight_threads_write_at_once():
    writers, per_writer = 8, 25
    start = threading.Barrier(writers)
    errors = []

    def write(worker: int) -> None:
        try:
            start.wait()
            for n in range(per_writer):
                with transaction.atomic():
                    record(worker * 1000 + n)
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert AuditEvent.objects.count() == writers * per_writer
    prev_hashes = list(AuditEvent.objects.values_list("prev_hash", flat=True))
    assert len(set(prev_hashes)) == len(prev_hashes), "two events claim the same predecessor"
    checked, broken = verify_chain()
    assert (checked, broken) == (writers * per_writer, None)


@pytest.mark.parametrize("details, ip, lab_id, user_agent", [
    ({}, None, None, ""),
    ({"n": 1, "path": "results/a.tsv"}, "10.0.0.1", uuid.UUID(int=7), "Firefox/140"),
    ({"z": [1.5, None, True, {"b": "\u2603", "a": "quote \" and \\ and \n"}], "A": -0.0},
     "2001:db8::1", "0b0f2b2e-6a53-4e1f-9f0c-1b7c2b0f0a11", "caf\u00e9 \U0001f9ec \x00"),
])
def test_it_hashes_exactly_the_canonical_json_of_the_fields(details, ip, lab_id, user_agent):
    """canonical_values assembles the JSON by hand for speed; it must stay byte-identical to the
    definition (json.dumps with sorted keys), or every existing chain would stop verifying."""
    created = datetime(2026, 3, 1, 12, 30, 0, 123, tzinfo=dt_timezone(timedelta(hours=2)))
    values = [created, "user:1", "a\u00efda@lab.test", lab_id, "sample.viewed", "sample",
              "S-1", details, True, False, ip, user_agent, "req-1", "f" * 64]
    payload = dict(zip(HASHED_FIELDS, values))
    payload["created_at"] = "2026-03-01T10:30:00.000123+00:00"
    payload["lab_id"] = str(lab_id) if lab_id else None
    assert canonical_values(*values) == canonical_json(payload)
    values[0] = payload["created_at"]  # the chain check hands over PostgreSQL's text
    assert canonical_values(*values) == canonical_json(payload)
