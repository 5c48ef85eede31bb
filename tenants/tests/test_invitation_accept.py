from datetime import timedelta

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from tests.helpers import make_user
from tenants import audit_actions
from tenants.models import AuditEvent, Invitation, Membership
from tenants.services import invitation_create

PASSWORD = "a-long-and-unusual-passphrase-42"


@pytest.fixture
def invited(manager):
    invitation, token = invitation_create(membership=manager, email="newcomer@example.test",
                                          role="clinician")
    return invitation, reverse("tenants:invitation_accept", args=[token])


def test_it_signs_up_a_new_person_straight_into_the_lab(client, invited):
    invitation, accept_url = invited
    response = client.get(accept_url)
    assert response.status_code == 302 and response.url.startswith(reverse("account_signup"))
    assert "newcomer%40example.test" in response.url or "newcomer@example.test" in response.url

    response = client.post(reverse("account_signup"), {
        "email": "newcomer@example.test", "password1": PASSWORD, "password2": PASSWORD})
    assert response.status_code == 302, response.content.decode()[:2000]

    user = get_user_model().objects.get(email="newcomer@example.test")
    # The invitation link proved the address, so allauth's mandatory verification is satisfied.
    assert EmailAddress.objects.get(user=user).verified
    membership = Membership.objects.get(user=user)
    assert (membership.lab, membership.role) == (invitation.lab, "clinician")
    invitation.refresh_from_db()
    assert invitation.accepted_by == user
    assert AuditEvent.objects.filter(action=audit_actions.INVITATION_ACCEPTED, lab_id=invitation.lab_id,
                                     actor_email="newcomer@example.test").count() == 1
    assert client.get("/labs/lab-a/").status_code == 200


def test_it_only_signs_up_the_invited_address(client, invited):
    _invitation, accept_url = invited
    client.get(accept_url)
    response = client.post(reverse("account_signup"), {
        "email": "someone-else@example.test", "password1": PASSWORD, "password2": PASSWORD})
    assert response.status_code == 200
    assert "This invitation is for newcomer@example.test" in response.content.decode()
    assert not get_user_model().objects.filter(email="someone-else@example.test").exists()


def test_it_has_no_open_sign_up(client, db):
    response = client.post(reverse("account_signup"), {
        "email": "walk-in@example.test", "password1": PASSWORD, "password2": PASSWORD})
    assert "Sign Up Closed" in response.content.decode()
    assert not get_user_model().objects.filter(email="walk-in@example.test").exists()


def test_it_asks_an_existing_account_to_sign_in_then_joins(client, invited):
    invitation, accept_url = invited
    user = make_user("newcomer@example.test")
    response = client.get(accept_url)
    assert response.status_code == 302 and response.url.startswith(reverse("account_login"))
    client.force_login(user)
    page = client.get(accept_url).content.decode()
    assert "Join Lab A Genomics" in page and "clinician" in page
    response = client.post(accept_url)
    assert response.status_code == 302 and response.url == "/labs/lab-a/"
    assert Membership.objects.filter(user=user, lab=invitation.lab).exists()


def test_it_refuses_an_invitation_meant_for_someone_else(client_for, invited, outsider):
    _invitation, accept_url = invited
    client = client_for(outsider)
    assert "This invitation is for newcomer@example.test" in client.get(accept_url).content.decode()
    response = client.post(accept_url)
    assert response.status_code == 400
    assert not Membership.objects.filter(user=outsider.user, lab__slug="lab-a").exists()


@pytest.mark.parametrize("spoil", ["expire", "revoke", "use"])
def test_it_explains_a_link_that_no_longer_works(client, invited, spoil):
    invitation, accept_url = invited
    if spoil == "expire":
        Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(1))
    elif spoil == "revoke":
        Invitation.objects.filter(pk=invitation.pk).update(revoked_at=timezone.now())
    else:
        Invitation.objects.filter(pk=invitation.pk).update(accepted_at=timezone.now())
    response = client.get(accept_url)
    assert response.status_code == 404
    assert "This invitation is not valid" in response.content.decode()


@pytest.mark.parametrize("token", ["nonsense", "x" * 200, "%3Cscript%3E"])
def test_it_treats_made_up_tokens_as_invalid(client, db, token):
    response = client.get(f"/invitations/{token}/")
    assert response.status_code == 404
