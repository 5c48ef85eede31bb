"""Sessions end after SESSION_IDLE_SECONDS without a request and SESSION_MAX_SECONDS after
sign-in, server-side (the session row is deleted, and its expiry date in the database follows
the idle limit); users see their sessions and end the others, audited."""

import time

import pytest
from allauth.usersessions.models import UserSession
from django.contrib.sessions.models import Session
from django.urls import reverse

from tenants import audit_actions, session_limits
from tenants.models import AuditEvent

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery-staple"


def sign_in(client, email, agent="Firefox/128.0", ip="198.51.100.10"):
    response = client.post(reverse("account_login"), {"login": email, "password": PASSWORD},
                           HTTP_USER_AGENT=agent, REMOTE_ADDR=ip)
    assert response.status_code == 302
    return client


def age(client, *, seen=None, started=None):
    """Move the session's clocks back, as if that much time had passed."""
    session = client.session
    if seen is not None:
        session[session_limits.SEEN_KEY] = time.time() - seen
    if started is not None:
        session[session_limits.STARTED_KEY] = time.time() - started
    session.save()
    return session.session_key


def test_defaults_are_fifteen_minutes_idle_and_twelve_hours_in_all(settings):
    from django.conf import settings as live

    assert (live.SESSION_IDLE_SECONDS, live.SESSION_MAX_SECONDS) == (15 * 60, 12 * 3600)


def test_an_idle_session_is_ended_server_side(client, clinician):
    sign_in(client, "clinician@lab-a.test")
    assert client.get("/labs/lab-a/").status_code == 200
    key = age(client, seen=16 * 60)
    response = client.get("/labs/lab-a/")
    assert response.status_code == 302 and response.url.startswith(reverse("account_login"))
    assert not Session.objects.filter(session_key=key).exists()
    assert not UserSession.objects.filter(session_key=key).exists()
    event = AuditEvent.objects.get(action=audit_actions.SESSION_EXPIRED)
    assert (event.actor_email, event.details) == ("clinician@lab-a.test", {"reason": "idle"})
    login_page = client.get(response.url).content.decode()
    assert "signed out after a period without activity" in login_page


def test_a_busy_session_still_ends_after_the_absolute_limit(client, clinician):
    sign_in(client, "clinician@lab-a.test")
    key = age(client, seen=10, started=12 * 3600 + 5)
    response = client.get("/labs/lab-a/")
    assert response.status_code == 302
    assert not Session.objects.filter(session_key=key).exists()
    assert AuditEvent.objects.get(action=audit_actions.SESSION_EXPIRED).details == {
        "reason": "max_age"}


def test_activity_is_written_at_most_once_a_minute_and_moves_the_rows_expiry(client, clinician):
    sign_in(client, "clinician@lab-a.test")
    key = client.session.session_key
    expires = Session.objects.get(session_key=key).expire_date
    # Signed in now: the row itself expires with the idle limit (and the minute in which
    # activity is not written), not after the old 8 hours.
    assert abs((expires - UserSession.objects.get(session_key=key).created_at).total_seconds()
               - 16 * 60) < 5
    client.get("/labs/lab-a/")
    assert Session.objects.get(session_key=key).expire_date == expires, "written within a minute"

    age(client, seen=14 * 60)          # 14 minutes idle: still current, and now refreshed
    before = UserSession.objects.get(session_key=key).last_seen_at
    assert client.get("/labs/lab-a/").status_code == 200
    assert Session.objects.get(session_key=key).expire_date > expires
    assert UserSession.objects.get(session_key=key).last_seen_at > before
    assert time.time() - client.session[session_limits.SEEN_KEY] < 5


def test_requests_of_an_upload_count_as_activity(client_for, clinician):
    """A long browser upload asks the portal to sign each part: those requests keep its
    session alive like any other."""
    client = client_for(clinician)
    client.get("/labs/lab-a/")
    age(client, seen=14 * 60)
    client.post("/labs/lab-a/samples/00000000-0000-0000-0000-000000000000/files/"
                "00000000-0000-0000-0000-000000000000/upload/parts/",
                "{}", content_type="application/json")
    age_now = time.time() - client.session[session_limits.SEEN_KEY]
    assert age_now < 5


def test_users_see_their_sessions_and_end_the_others(clinician):
    from django.test import Client

    laptop = sign_in(Client(), "clinician@lab-a.test", "Firefox/128.0 (laptop)", "198.51.100.10")
    phone = sign_in(Client(), "clinician@lab-a.test", "Safari/17 (phone)", "203.0.113.44")
    phone_key = phone.session.session_key
    page = laptop.get(reverse("tenants:sessions"))
    html = page.content.decode()
    assert page.status_code == 200
    assert "Firefox/128.0 (laptop)" in html and "Safari/17 (phone)" in html
    assert "198.51.100.10" in html and "203.0.113.44" in html
    assert html.count("<tr data-session") == 2 and "This session" in html
    assert "15 minutes without activity" in html

    response = laptop.post(reverse("tenants:sessions"))
    assert response.status_code == 302
    assert not Session.objects.filter(session_key=phone_key).exists()
    assert phone.get("/labs/lab-a/").status_code == 302
    assert laptop.get("/labs/lab-a/").status_code == 200
    event = AuditEvent.objects.get(action=audit_actions.SESSIONS_ENDED)
    assert event.details["ip"] == "203.0.113.44"


def test_expired_session_rows_are_deleted_daily():
    import importlib

    from django.apps import apps
    from django_q.models import Schedule

    # Transactional tests flush the tables, migration data included: run the migration's step.
    migration = importlib.import_module("tenants.migrations.0009_schedule_clearsessions")
    migration.schedule(apps, None)
    migration.schedule(apps, None)  # idempotent
    schedule = Schedule.objects.get(func="django.core.management.call_command",
                                    args="'clearsessions'")
    assert schedule.schedule_type == Schedule.DAILY and schedule.repeats == -1


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_sessions_page_in_chromium(chromium, live_server, client, clinician):
    from django.test import Client

    from tests.helpers import browser_page_as, screenshot

    sign_in(Client(), "clinician@lab-a.test", "Mozilla/5.0 (iPhone) Safari/17", "203.0.113.44")
    page = browser_page_as(chromium, live_server, client, clinician.user, width=1200, height=700)
    page.goto(live_server.url + "/labs/lab-a/")
    page.click("text=Sessions")
    assert page.locator("tr[data-session]").count() == 2
    assert "203.0.113.44" in page.content()
    screenshot(page, "sessions-page")
    page.click("[data-end-other-sessions]")
    page.wait_for_selector("tr[data-session][data-current]")
    assert page.locator("tr[data-session]").count() == 1
    screenshot(page, "sessions-page-others-ended")
