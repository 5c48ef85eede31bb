"""Row locks lock only their own rows: a lock on a membership (joined to its lab) must not stop
another transaction from writing an audit event for that lab. The plain FOR UPDATE it replaces
locked the lab row too and deadlocked two upload completions against the audit chain's lock."""

import re
import threading
from pathlib import Path

import pytest
from django.db import connection, transaction

from common.db import for_update
from tenants import audit_actions
from tenants.audit import SYSTEM, audit_record
from tenants.models import AuditEvent, Membership

ROOT = Path(__file__).resolve().parents[2]


def test_app_code_locks_rows_only_through_for_update():
    offenders = []
    for app in ("common", "portal", "tenants", "jobs", "storage"):
        for path in (ROOT / app).rglob("*.py"):
            if "tests" in path.parts or path == ROOT / "common" / "db.py":
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if re.search(r"\.select_for_update\(", line):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}")
    assert offenders == [], "lock rows with common.db.for_update: " + ", ".join(offenders)


@pytest.mark.django_db(transaction=True)
def test_a_locked_membership_leaves_its_lab_free_for_audit_writes(clinician):
    if connection.vendor != "postgresql":
        pytest.skip("row locks exist on PostgreSQL only")
    locked, release = threading.Event(), threading.Event()

    def hold_the_membership_lock():
        try:
            with transaction.atomic():
                for_update(Membership.objects).select_related("lab", "user").get(pk=clinician.pk)
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_membership_lock)
    holder.start()
    try:
        assert locked.wait(10)
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '2s'")
            event = audit_record(actor=SYSTEM, action=audit_actions.LAB_CHANGED, lab=clinician.lab,
                                 resource_type="lab", resource_id=clinician.lab.pk)
        # The foreign key to the lab is checked at commit; it did not wait for the holder.
        assert AuditEvent.objects.filter(pk=event.pk, lab=clinician.lab).exists()
    finally:
        release.set()
        holder.join(10)
