"""The first sign-in of a user staff created in the admin, and the e-mail check for an address
nobody vouched for."""

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core import mail

from tenants import audit_actions
from tenants.models import AuditEvent
from tests.helpers import make_user

pytestmark = pytest.mark.django_db
PASSWORD = "Xq7-a-long-pass-phrase"


@pytest.fixture
def staff(db):
    return make_user("ops@wes.test", is_staff=True, is_superuser=True)


def sign_in(client, email):
    return client.post("/accounts/login/", {"login": email, "password": PASSWORD}, follow=True)


def test_a_manager_created_in_the_admin_signs_in_straight_away(client, staff, lab_a):
    client.force_login(staff)
    response = client.post("/admin/auth/user/add/", {
        "username": "mona", "email": "mona@lab-a.test", "usable_password": "true",
        "password1": PASSWORD, "password2": PASSWORD})
    assert response.status_code == 302, response.content.decode()[:2000]
    user = get_user_model().objects.get(username="mona")
    address = EmailAddress.objects.get(user=user)
    assert (address.email, address.verified, address.primary) == ("mona@lab-a.test", True, True)
    event = AuditEvent.objects.get(action=audit_actions.USER_EMAIL_VERIFIED_BY_STAFF)
    assert event.actor_email == "ops@wes.test" and event.details["email"] == "mona@lab-a.test"

    client.logout()
    response = sign_in(client, "mona@lab-a.test")
    assert "/accounts/confirm-email/" not in [url for url, _ in response.redirect_chain]
    assert response.wsgi_request.user == user and not mail.outbox


def test_an_address_staff_change_in_the_admin_is_the_verified_one(client, staff):
    user = make_user("old@lab-a.test", password=PASSWORD)
    client.force_login(staff)
    form = client.get(f"/admin/auth/user/{user.pk}/change/").context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k not in
            ("password", "groups", "user_permissions", "last_login", "date_joined")}
    data.update(email="new@lab-a.test", date_joined_0="2026-01-01", date_joined_1="00:00:00")
    response = client.post(f"/admin/auth/user/{user.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert EmailAddress.objects.get(user=user, primary=True).email == "new@lab-a.test"
    assert EmailAddress.objects.get(user=user, primary=True).verified
    client.logout()
    assert sign_in(client, "new@lab-a.test").wsgi_request.user == user


def test_an_unvouched_address_gets_a_branded_correctly_worded_check(client):
    user = get_user_model().objects.create_user("shell", "shell@lab-a.test", PASSWORD)
    response = sign_in(client, "shell@lab-a.test")
    html = response.content.decode()
    assert "Confirm your e-mail address" in html and "data-verification-sent" in html
    assert "One step before your first sign-in" in html
    assert "signup" not in html.lower() and "register" not in html.lower()
    assert 'class="brand"' in html  # the portal's own header
    (message,) = mail.outbox
    assert message.subject == "WES Portal: confirm your e-mail address"
    assert message.body.startswith("WES Portal\n")
    assert "register an account" not in message.body and "Hello from" not in message.body
    assert "/accounts/confirm-email/" in message.body and user.email in message.body
