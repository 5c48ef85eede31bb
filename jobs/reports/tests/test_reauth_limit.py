"""Signing out a report asks for the manager's password (or code) again; wrong answers are
limited like sign-in failures (settings.REPORT_REAUTH_RATE_LIMIT, 5 per 15 minutes per user),
after which even the right password is refused until the window passes, audited."""

import time

import pytest
from django.core.exceptions import ValidationError
from django.test import RequestFactory

from jobs.reports.services import reauthenticate
from tenants import audit_actions
from tenants.models import AuditEvent

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery-staple"


def attempt(membership, password):
    request = RequestFactory().post("/sign/", REMOTE_ADDR="198.51.100.3")
    request.user = membership.user
    try:
        reauthenticate(membership=membership, password=password, request=request)
        return "ok"
    except ValidationError as error:
        return error.messages[0]


def test_five_wrong_passwords_lock_sign_out_even_for_the_right_one(manager, outsider):
    assert attempt(manager, PASSWORD) == "ok"
    answers = [attempt(manager, f"guess-{n}") for n in range(5)]
    assert all(answer.startswith("Re-authentication failed") for answer in answers)
    locked = attempt(manager, PASSWORD)
    assert locked.startswith("Too many wrong passwords or codes")
    assert "locked for 15 minutes after 5 failures" in locked
    events = AuditEvent.objects.filter(action=audit_actions.REPORT_REAUTH_FAILED)
    assert events.count() == 6
    assert events.filter(details__reason="rate limited").count() == 1
    # Someone else's sign-out is not affected.
    assert attempt(outsider, PASSWORD) == "ok"


def test_the_lock_lifts_when_the_window_passes(manager, monkeypatch):
    for n in range(5):
        attempt(manager, f"guess-{n}")
    assert attempt(manager, PASSWORD).startswith("Too many")
    later = time.time() + 15 * 60 + 1
    monkeypatch.setattr(time, "time", lambda: later)
    assert attempt(manager, PASSWORD) == "ok"


def test_a_right_password_does_not_reset_the_count(manager):
    for n in range(4):
        attempt(manager, f"guess-{n}")
    assert attempt(manager, PASSWORD) == "ok"
    attempt(manager, "guess-5")
    assert attempt(manager, PASSWORD).startswith("Too many")
