import hashlib
import hmac
import os
import re
import subprocess
import sys
import threading
import uuid
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from io import StringIO
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, connections, transaction
from django.test import override_settings

from common.env import parse_keys
from tests.helpers import tamper_with_audit_rows
from tenants.audit import (
    GENESIS_HASH,
    HASHED_FIELDS,
    SYSTEM,
    Actor,
    audit_record,
    canonical_form,
    canonical_json,
    canonical_values,
    event_hash,
    event_hash_matches,
    verify_chain,
    walk_chain,
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


def rewrite_from(events, first_index: int, sql: str, params: list) -> None:
    """What someone with the database can do: change a row, then recompute the chain from it on
    with the module's own `event_hash`, under whatever keys the settings hold now."""
    tamper_with_audit_rows(sql, params)
    prev_hash = AuditEvent.objects.get(pk=events[first_index - 1].pk).hash
    for event in events[first_index:]:
        row = AuditEvent.objects.get(pk=event.pk)
        row.prev_hash = prev_hash
        prev_hash = event_hash(row)
        tamper_with_audit_rows("UPDATE tenants_auditevent SET prev_hash = %s, hash = %s "
                               "WHERE id = %s", [row.prev_hash, prev_hash, row.pk])


@pytest.mark.django_db
def test_it_chains_with_the_current_audit_key(settings):
    event = AuditEvent.objects.get(pk=record(1).pk)
    assert event.key_id == settings.AUDIT_KEY_ID == "test"
    content = canonical_values(*(getattr(event, name) for name in HASHED_FIELDS))
    assert event.hash == hmac.new(b"test-only-audit-chain-key-not-for-production", content,
                                  hashlib.sha256).hexdigest()
    assert event.hash != hashlib.sha256(content).hexdigest()


@pytest.mark.django_db
def test_an_edited_row_with_recomputed_hashes_is_broken_without_the_key(settings):
    events = [record(n) for n in range(5)]
    # The attacker runs the portal's own code, with a key of their own guessing.
    with override_settings(AUDIT_KEYS={"test": "the attacker's guess"}):
        rewrite_from(events, 2, "UPDATE tenants_auditevent SET details = %s WHERE id = %s",
                     ['{"n": 999}', events[2].pk])
    assert AuditEvent.objects.get(pk=events[3].pk).prev_hash == \
        AuditEvent.objects.get(pk=events[2].pk).hash, "the links were recomputed"
    _checked, broken = verify_chain()
    assert broken is not None and broken.event_id == events[2].pk and broken.kind == "hash"


@pytest.mark.django_db
def test_a_keyed_row_rewritten_with_the_plain_hash_is_a_downgrade():
    events = [record(n) for n in range(5)]
    # Without the key the attacker's only other hash is the legacy one: no key id, plain SHA-256.
    rewrite_from(events, 2, "UPDATE tenants_auditevent SET details = %s, key_id = NULL "
                            "WHERE id >= %s", ['{"n": 999}', events[2].pk])
    _checked, broken = verify_chain()
    assert broken.event_id == events[2].pk and broken.kind == "downgrade"
    assert f"comes after keyed event #{events[0].pk}" in broken.reason


@pytest.mark.django_db
def test_legacy_rows_verify_and_keyed_chaining_starts_with_the_next_event(settings):
    with override_settings(AUDIT_KEY_ID=None):      # what the migration leaves: rows without key
        legacy = [record(n) for n in range(3)]
    keyed = [record(n) for n in range(3, 5)]
    assert [e.key_id for e in legacy + keyed] == [None, None, None, "test", "test"]
    assert legacy[1].hash == hashlib.sha256(canonical_form(legacy[1])).hexdigest()
    assert keyed[0].prev_hash == legacy[-1].hash
    walk = walk_chain()
    assert (walk.checked, walk.first_problem(), walk.first_keyed_id) == (5, None, keyed[0].pk)

    # The legacy part is as forgeable as before on its own, but the keyed row after it is not.
    rewrite_from(legacy, 1, "UPDATE tenants_auditevent SET details = %s WHERE id = %s",
                 ['{"n": 999}', legacy[1].pk])
    _checked, broken = verify_chain()
    assert broken.event_id == keyed[0].pk and broken.kind == "prev_hash"


@pytest.mark.django_db
def test_rows_under_two_key_ids_verify_after_a_rotation(settings):
    settings.AUDIT_KEYS = {"2025": "the first key, long enough to be a real one!!",
                           "2026": "the second key, just as long as the first one"}
    settings.AUDIT_KEY_ID = "2025"
    old = [record(n) for n in range(3)]
    settings.AUDIT_KEY_ID = "2026"
    new = [record(n) for n in range(3, 6)]
    assert {e.key_id for e in old} == {"2025"} and {e.key_id for e in new} == {"2026"}
    assert new[0].prev_hash == old[-1].hash
    assert verify_chain() == (6, None)
    assert all(event_hash_matches(e) for e in AuditEvent.objects.all())


@pytest.mark.django_db
def test_a_row_whose_key_is_not_configured_is_reported_not_a_crash(settings, provisioned_s3):
    settings.AUDIT_KEYS = {"2025": "the first key, long enough to be a real one!!",
                           "2026": "the second key, just as long as the first one"}
    settings.AUDIT_KEY_ID = "2025"
    old = [record(n) for n in range(3)]
    settings.AUDIT_KEY_ID = "2026"
    [record(n) for n in range(3, 5)]
    settings.AUDIT_KEYS = {"2026": "the second key, just as long as the first one"}

    walk = walk_chain()
    assert walk.checked == 5 and walk.broken is None and not walk.intact
    (missing,) = walk.unknown_keys
    assert (missing.key_id, missing.count, missing.first_id) == ("2025", 3, old[0].pk)
    _checked, problem = verify_chain()
    assert problem.kind == "unknown_key" and problem.event_id == old[0].pk
    assert "audit key '2025', which is not in WES_AUDIT_KEYS" in problem.reason
    assert event_hash_matches(AuditEvent.objects.get(pk=old[0].pk)) is None
    with pytest.raises(CommandError, match=f"broken at event #{old[0].pk}.*audit key '2025'"):
        verify_output()


def test_it_reads_audit_keys_from_the_environment_format():
    assert parse_keys("K", "2025:abc, 2026:def\n# retired\nold.1:x=y") == {
        "2025": "abc", "2026": "def", "old.1": "x=y"}
    for bad, message in [("2025", "has no secret"), ("bad/id:x", "is not 1-32"),
                         ("a:x,a:y", "given twice")]:
        with pytest.raises(ImproperlyConfigured, match=message):
            parse_keys("WES_AUDIT_KEYS", bad)


@pytest.mark.parametrize("env, message", [
    ({}, "WES_AUDIT_KEYS holds the development audit chain key"),
    ({"WES_AUDIT_KEYS": "a:short"}, "the audit chain key\\(s\\) a in WES_AUDIT_KEYS are shorter"),
    ({"WES_AUDIT_KEYS": "a:" + "x" * 40 + ",b:" + "y" * 40}, "WES_AUDIT_KEY_ID='' names no key"),
    ({"WES_AUDIT_KEYS": "a:" + "x" * 40, "WES_AUDIT_KEY_ID": "b"}, "WES_AUDIT_KEY_ID='b' names"),
])
def test_production_refuses_to_start_without_a_real_audit_key(env, message, tmp_path):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("WES_AUDIT", "DJANGO_DEBUG"))}
    base.update(DJANGO_SETTINGS_MODULE="portal.settings", DJANGO_DEBUG="false",
                WES_VAR_DIR=str(tmp_path), **env)
    done = subprocess.run([sys.executable, "-c", "import django; django.setup()"], env=base,
                          capture_output=True, text=True, cwd=settings_dir())
    assert done.returncode != 0
    assert re.search(message, done.stderr), done.stderr[-600:]


def test_it_reads_the_audit_keys_from_a_file(tmp_path):
    keys = tmp_path / "audit-keys"
    keys.write_text("# id:secret, one a line\n2025:" + "x" * 40 + "\n2026:" + "y" * 40 + "\n")
    base = {k: v for k, v in os.environ.items() if not k.startswith("WES_AUDIT")}
    base.update(DJANGO_SETTINGS_MODULE="portal.settings", DJANGO_DEBUG="false",
                WES_VAR_DIR=str(tmp_path), WES_AUDIT_KEYS_FILE=str(keys), WES_AUDIT_KEY_ID="2026")
    done = subprocess.run([sys.executable, "-c", "import django; django.setup(); "
                           "from django.conf import settings as s; "
                           "print(sorted(s.AUDIT_KEYS), s.AUDIT_KEY_ID)"], env=base,
                          capture_output=True, text=True, cwd=settings_dir())
    assert done.stdout.strip() == "['2025', '2026'] 2026", done.stderr[-600:]


def settings_dir() -> str:
    return str(Path(__file__).resolve().parents[2])
