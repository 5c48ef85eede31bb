"""Lab managers and staff must use an authenticator app (settings.MFA_REQUIRED_ROLES): without
one they reach no lab page and not the admin, only a guided enrolment that ends on their
recovery codes and sends them on; enrolled, their sign-in asks for the code (allauth)."""

import re

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import SECRET_SESSION_KEY
from django.urls import reverse
from django.utils import timezone

from jobs.models import Sample
from tenants import audit_actions
from tenants.models import AuditEvent
from tests.helpers import forget_used_totp_codes, give_totp, make_user, totp_code

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery-staple"
ENROL = "/accounts/2fa/totp/activate/"


def sign_in(client, email, password=PASSWORD):
    return client.post(reverse("account_login"), {"login": email, "password": password})


@pytest.fixture
def patient_sample(manager):
    return Sample.objects.create(lab=manager.lab, name="S0001", external_id="PSN-SECRET-77",
                                 created_by=manager.user, consent_confirmed_at=timezone.now())


def enrol(client):
    """What the user does on the enrolment page: read the secret (the QR code), type the code.
    allauth announces the new authenticator when its transaction commits, so the tests that
    enrol run in real transactions (django_db(transaction=True))."""
    page = client.get(ENROL)
    assert page.status_code == 200, page
    assert "Set up two-factor authentication" in page.content.decode()
    secret = client.session[SECRET_SESSION_KEY]
    response = client.post(ENROL, {"code": totp_code(secret)})
    return secret, response


def test_a_manager_without_totp_reaches_no_patient_data_and_not_the_admin(client, manager,
                                                                          patient_sample):
    manager.user.is_staff = True
    manager.user.save()
    response = sign_in(client, "manager@lab-a.test")
    assert response.status_code == 302
    for url in ["/labs/", "/labs/lab-a/", "/labs/lab-a/samples/",
                f"/labs/lab-a/samples/{patient_sample.pk}/", "/admin/",
                "/admin/jobs/sample/"]:
        response = client.get(url)
        assert (response.status_code, response.url) == (302, ENROL), url
        assert b"PSN-SECRET-77" not in response.content
    # A script gets a refusal it can read, not a login page.
    answer = client.get("/labs/lab-a/samples/", HTTP_ACCEPT="application/json")
    assert answer.status_code == 403 and answer.json()["redirect"] == ENROL


def test_staff_without_a_lab_are_sent_to_enrolment_from_the_admin(client, db):
    make_user("staff@example.test", is_staff=True)
    sign_in(client, "staff@example.test")
    response = client.get("/admin/")
    assert (response.status_code, response.url) == (302, ENROL)


@pytest.mark.django_db(transaction=True)
def test_enrolment_shows_recovery_codes_then_continues_where_the_manager_was_going(
        client, manager, patient_sample):
    sign_in(client, "manager@lab-a.test")
    wanted = f"/labs/lab-a/samples/{patient_sample.pk}/"
    assert client.get(wanted).url == ENROL

    # A wrong code is refused with a message, and nothing is enrolled.
    refused = client.post(ENROL, {"code": "000000"})
    assert refused.status_code == 200 and "Incorrect code" in refused.content.decode()
    assert not Authenticator.objects.filter(user=manager.user).exists()

    secret, response = enrol(client)
    assert response.status_code == 302 and response.url == "/accounts/2fa/recovery-codes/"
    codes_page = client.get(response.url).content.decode()
    codes = RecoveryCodes(Authenticator.objects.get(
        user=manager.user, type=Authenticator.Type.RECOVERY_CODES)).get_unused_codes()
    assert len(codes) == 10 and all(code in codes_page for code in codes)
    assert re.search(rf'data-mfa-continue href="{re.escape(wanted)}"', codes_page)

    page = client.get(wanted)
    assert page.status_code == 200 and "PSN-SECRET-77" in page.content.decode()
    assert client.get("/labs/lab-a/").status_code == 200
    assert AuditEvent.objects.filter(action=audit_actions.MFA_ENABLED,
                                     actor_email="manager@lab-a.test").exists()


def test_an_enrolled_manager_signs_in_with_password_and_code(client, manager):
    give_totp(manager.user)
    response = sign_in(client, "manager@lab-a.test")
    assert response.status_code == 302 and response.url == "/accounts/2fa/authenticate/"
    # The password alone signed nobody in.
    assert "_auth_user_id" not in client.session
    assert client.get("/labs/lab-a/").url.startswith(reverse("account_login"))
    wrong = client.post("/accounts/2fa/authenticate/", {"code": "123456"})
    assert "_auth_user_id" not in client.session and wrong.status_code == 200
    forget_used_totp_codes()
    response = client.post("/accounts/2fa/authenticate/", {"code": totp_code()})
    assert response.status_code == 302
    assert client.get("/labs/lab-a/").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_a_recovery_code_signs_in_once(client, manager):
    sign_in(client, "manager@lab-a.test")
    enrol(client)
    code = RecoveryCodes(Authenticator.objects.get(
        user=manager.user, type=Authenticator.Type.RECOVERY_CODES)).get_unused_codes()[0]
    client.post(reverse("account_logout"))

    sign_in(client, "manager@lab-a.test")
    client.post("/accounts/2fa/authenticate/", {"code": code})
    assert client.get("/labs/lab-a/").status_code == 200
    client.post(reverse("account_logout"))

    sign_in(client, "manager@lab-a.test")
    again = client.post("/accounts/2fa/authenticate/", {"code": code})
    assert again.status_code == 200 and "Incorrect code" in again.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_manager_who_signed_in_before_enrolling_elsewhere_is_asked_for_a_code(client, manager):
    sign_in(client, "manager@lab-a.test")           # password only, no authenticator yet
    give_totp(manager.user)                          # enrolled in another browser meanwhile
    response = client.get("/labs/lab-a/")
    assert response.status_code == 302
    assert response.url == "/accounts/2fa/reauthenticate/?next=%2Flabs%2Flab-a%2F"
    # Nor can that session mint itself recovery codes to get past the code step.
    for url in ["/accounts/2fa/recovery-codes/generate/", "/accounts/2fa/recovery-codes/",
                "/accounts/2fa/"]:
        assert client.get(url).url.startswith("/accounts/2fa/reauthenticate/"), url
    forget_used_totp_codes()
    response = client.post(response.url, {"code": totp_code(), "next": "/labs/lab-a/"})
    assert response.status_code == 302 and response.url == "/labs/lab-a/"
    assert client.get("/labs/lab-a/").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_clinicians_are_not_required_but_may_enrol(client, clinician):
    sign_in(client, "clinician@lab-a.test")
    assert client.get("/labs/lab-a/").status_code == 200
    enrol(client)
    assert Authenticator.objects.filter(user=clinician.user,
                                        type=Authenticator.Type.TOTP).exists()


def test_the_setting_names_the_roles(client, manager, settings):
    settings.MFA_REQUIRED_ROLES = ["staff"]
    sign_in(client, "manager@lab-a.test")
    assert client.get("/labs/lab-a/").status_code == 200


def test_a_manager_cannot_switch_the_authenticator_off(client_for, manager):
    give_totp(manager.user)
    client = client_for(manager)
    response = client.post("/accounts/2fa/totp/deactivate/")
    assert "cannot be switched off" in response.content.decode()
    assert Authenticator.objects.filter(user=manager.user, type="totp").exists()


def test_the_user_menu_links_two_factor_and_sessions(client_for, clinician):
    page = client_for(clinician).get("/labs/lab-a/").content.decode()
    assert 'href="/accounts/2fa/"' in page and 'href="/sessions/"' in page




def test_a_clinician_made_manager_is_asked_within_a_minute_at_no_cost_per_request(
        client, clinician, monkeypatch):
    import time

    sign_in(client, "clinician@lab-a.test")
    client.get("/labs/lab-a/")
    clinician.role = "manager"
    clinician.save()
    # Within the minute the earlier answer stands (no query for it) ...
    assert client.get("/labs/lab-a/").status_code == 200
    later = time.time() + 61
    monkeypatch.setattr(time, "time", lambda: later)
    # ... then the new role is seen.
    assert client.get("/labs/lab-a/").url == ENROL


def test_no_logged_in_message_before_the_second_factor(client, manager, clinician):
    """The set-up page is not greeted with "Logged in as …": the sign-in is not done yet."""
    response = sign_in(client, "manager@lab-a.test")
    page = client.get(response.url, follow=True).content.decode()
    assert "Set up two-factor authentication" in page
    assert "Logged in as" not in page
    client.post(reverse("account_logout"))
    # Someone who owes no second factor is still greeted.
    response = sign_in(client, "clinician@lab-a.test")
    assert "Logged in as" in client.get(response.url, follow=True).content.decode()


def test_the_logged_in_message_follows_the_code_step(client, manager):
    give_totp(manager.user)
    sign_in(client, "manager@lab-a.test")
    assert "Logged in as" not in client.get("/accounts/2fa/authenticate/").content.decode()
    response = client.post("/accounts/2fa/authenticate/", {"code": totp_code()}, follow=True)
    assert "Logged in as" in response.content.decode()
