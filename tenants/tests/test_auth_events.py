from django.urls import reverse

from tenants import audit_actions
from tenants.models import AuditEvent


def sign_in(client, email, password="correct-horse-battery-staple"):
    return client.post(reverse("account_login"), {"login": email, "password": password},
                       HTTP_USER_AGENT="pytest-browser", REMOTE_ADDR="192.0.2.10")


def test_it_audits_sign_in_and_sign_out(client, clinician):
    response = sign_in(client, "clinician@lab-a.test")
    assert response.status_code == 302
    client.post(reverse("account_logout"))
    login, logout = AuditEvent.objects.filter(action__in=[audit_actions.LOGIN, audit_actions.LOGOUT])
    assert (login.action, logout.action) == (audit_actions.LOGIN, audit_actions.LOGOUT)
    assert login.actor_email == logout.actor_email == "clinician@lab-a.test"
    assert (login.ip_address, login.user_agent) == ("192.0.2.10", "pytest-browser")
    assert len(login.request_id) == 32


def test_it_audits_a_failed_sign_in_without_the_password(client, clinician):
    response = sign_in(client, "clinician@lab-a.test", password="wrong-password")
    assert response.status_code == 200
    assert "not correct" in response.content.decode()
    event = AuditEvent.objects.get(action=audit_actions.LOGIN_FAILED)
    assert (event.actor_id, event.actor_email) == ("anonymous", "clinician@lab-a.test")
    assert "wrong-password" not in str(event.details)


def test_it_rate_limits_repeated_failures(client, clinician):
    pages = [sign_in(client, "clinician@lab-a.test", password=f"guess-{n}").content.decode()
             for n in range(6)]
    assert all("are not correct" in page for page in pages[:5])
    assert "Too many failed sign-in attempts. Wait 5 minutes" in pages[5]
    # Even the right password is refused while the limit holds.
    response = sign_in(client, "clinician@lab-a.test")
    assert "Too many failed sign-in attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session
    # Every refused attempt is on record, including the ones the rate limit stopped.
    failed = AuditEvent.objects.filter(action=audit_actions.LOGIN_FAILED)
    assert failed.count() == 7
    assert failed.filter(details__reason="rate limited").count() == 2


def test_it_lets_staff_into_the_admin_through_the_same_sign_in(client, db):
    from tests.helpers import give_totp, make_user, totp_code

    give_totp(make_user("staff@example.test", is_staff=True, is_superuser=True))
    admin_login = client.get("/admin/").url
    response = client.get(admin_login)
    assert response.status_code == 302 and response.url.startswith(reverse("account_login"))
    # The admin's own password form is not a way around allauth's rate limits.
    bypass = client.post(admin_login, {"username": "staff@example.test",
                                       "password": "correct-horse-battery-staple"})
    assert bypass.status_code == 302 and "_auth_user_id" not in client.session
    sign_in(client, "staff@example.test")
    # Staff must use their authenticator app: the password alone opens nothing.
    assert "_auth_user_id" not in client.session
    client.post(reverse("mfa_authenticate"), {"code": totp_code()})
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/tenants/auditevent/").status_code == 200


def test_it_keeps_lab_members_out_of_the_admin(client_for, manager):
    assert client_for(manager).get("/admin/", follow=True).status_code == 403


def test_it_points_newcomers_to_invitations_not_sign_up(client, db):
    page = client.get(reverse("account_login")).content.decode()
    assert "ask your lab manager to invite" in page
    assert reverse("account_signup") not in page


def test_it_audits_staff_edits_of_labs_and_memberships(client, db, manager):
    from tests.helpers import make_user
    from tenants.models import Lab, Membership

    staff = make_user("staff@example.test", is_staff=True, is_superuser=True)
    client.force_login(staff)
    response = client.post("/admin/tenants/lab/add/", {
        "name": "Lab C", "slug": "lab-c",
        "memberships-TOTAL_FORMS": "1", "memberships-INITIAL_FORMS": "0",
        "memberships-0-user": str(manager.user.pk), "memberships-0-role": "clinician"})
    assert response.status_code == 302, response.content.decode()[:3000]
    lab_c = Lab.objects.get(slug="lab-c")
    created = AuditEvent.objects.get(action=audit_actions.LAB_CREATED, lab=lab_c)
    added = AuditEvent.objects.get(action=audit_actions.MEMBERSHIP_ADDED, lab=lab_c)
    assert created.actor_email == added.actor_email == "staff@example.test"
    assert added.details["via"] == "admin" and added.details["role"] == "clinician"

    membership = Membership.objects.get(lab=lab_c)
    client.post(f"/admin/tenants/membership/{membership.pk}/change/", {
        "lab": str(lab_c.pk), "user": str(manager.user.pk), "role": "manager",
        "created_at_0": "2026-01-01", "created_at_1": "00:00:00"})
    changed = AuditEvent.objects.filter(action=audit_actions.MEMBERSHIP_ROLE_CHANGED, lab=lab_c).get()
    assert (changed.details["previous_role"], changed.details["role"]) == ("clinician", "manager")
    client.post(f"/admin/tenants/membership/{membership.pk}/delete/", {"post": "yes"})
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert AuditEvent.objects.filter(action=audit_actions.MEMBERSHIP_REMOVED, lab=lab_c).count() == 1
