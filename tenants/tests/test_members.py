import uuid

import pytest
from django.core import mail
from django.urls import reverse

from tenants import audit_actions
from tenants.models import AuditEvent, Invitation, Membership


def members_url(slug="lab-a"):
    return reverse("tenants:members", args=[slug])


def invite_url(slug="lab-a"):
    return reverse("tenants:member_invite", args=[slug])


def remove_url(member_id, slug="lab-a"):
    return reverse("tenants:member_remove", args=[slug, member_id])


def test_it_lists_members_to_any_member(client_for, clinician):
    page = client_for(clinician).get(members_url()).content.decode()
    assert "manager@lab-a.test" in page and "clinician@lab-a.test" in page
    assert "Send invitation" not in page and "Remove" not in page


def test_it_shows_managers_the_invitation_form(client_for, manager):
    page = client_for(manager).get(members_url()).content.decode()
    assert "Send invitation" in page and "Pending invitations" in page


def test_it_hides_members_from_an_outsider(client_for, outsider, clinician):
    response = client_for(outsider).get(members_url())
    assert response.status_code == 404
    assert "clinician@lab-a.test" not in response.content.decode()


def test_it_invites_a_person_by_email_with_a_role(client_for, manager,
                                                  django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(manager).post(invite_url(), {"email": "New.Person@Example.test",
                                                           "role": "clinician"})
    assert response.status_code == 302
    invitation = Invitation.objects.get()
    assert (invitation.lab, invitation.email, invitation.role) == (
        manager.lab, "new.person@example.test", "clinician")
    (email,) = mail.outbox
    assert email.to == ["new.person@example.test"] and "Lab A Genomics" in email.subject
    assert "/invitations/" in email.body
    assert invitation.token_hash not in email.body
    event = AuditEvent.objects.get(action=audit_actions.INVITATION_CREATED)
    assert event.lab_id == manager.lab.pk and event.actor_email == "manager@lab-a.test"


def test_it_refuses_to_invite_an_existing_member(client_for, manager, clinician):
    response = client_for(manager).post(invite_url(), {"email": "CLINICIAN@lab-a.test",
                                                       "role": "manager"})
    assert response.status_code == 400
    assert "clinician@lab-a.test is already a member of Lab A Genomics." in response.content.decode()
    assert not Invitation.objects.exists() and not mail.outbox


@pytest.mark.parametrize("email", ["not-an-email", "a@b", "", "x" * 250 + "@example.test",
                                   "<script>@example.test", "two@@example.test"])
def test_it_explains_a_malformed_email(client_for, manager, email):
    response = client_for(manager).post(invite_url(), {"email": email, "role": "clinician"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "errorlist" in page and "<script>@" not in page
    assert not Invitation.objects.exists()


def test_it_rejects_an_unknown_role(client_for, manager):
    response = client_for(manager).post(invite_url(), {"email": "a@example.test", "role": "admin"})
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()


def test_it_replaces_a_pending_invitation_when_inviting_again(client_for, manager):
    client = client_for(manager)
    client.post(invite_url(), {"email": "again@example.test", "role": "clinician"})
    client.post(invite_url(), {"email": "again@example.test", "role": "manager"})
    old, new = Invitation.objects.order_by("created_at")
    assert old.revoked_at is not None and new.is_pending() and new.role == "manager"
    page = client.get(members_url()).content.decode()
    assert "The link sent earlier no longer works." in page


def test_it_sends_a_reload_of_the_invite_address_back_to_the_members_page(client_for, manager):
    response = client_for(manager).get(invite_url())
    assert response.status_code == 302 and response.url == members_url()


def test_it_forbids_a_clinician_to_invite(client_for, clinician):
    response = client_for(clinician).post(invite_url(), {"email": "x@example.test",
                                                         "role": "manager"})
    assert response.status_code == 403
    assert not Invitation.objects.exists()


def test_it_answers_404_to_an_outsider_inviting(client_for, outsider, manager):
    response = client_for(outsider).post(invite_url(), {"email": "x@example.test",
                                                        "role": "manager"})
    assert response.status_code == 404
    assert not Invitation.objects.exists()


def test_it_lets_a_manager_remove_a_member(client_for, manager, clinician):
    response = client_for(manager).post(remove_url(clinician.pk))
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=clinician.pk).exists()
    event = AuditEvent.objects.get(action=audit_actions.MEMBERSHIP_REMOVED)
    assert event.details == {"email": "clinician@lab-a.test", "role": "clinician"}
    assert client_for(clinician).get("/labs/lab-a/").status_code == 404


def test_it_keeps_the_last_manager(client_for, manager):
    response = client_for(manager).post(remove_url(manager.pk), follow=True)
    assert "the lab&#x27;s only manager" in response.content.decode()
    assert response.request["PATH_INFO"] == members_url()
    assert Membership.objects.filter(pk=manager.pk).exists()


def test_it_forbids_a_clinician_to_remove(client_for, clinician, manager):
    assert client_for(clinician).post(remove_url(manager.pk)).status_code == 403
    assert Membership.objects.filter(pk=manager.pk).exists()


def test_it_answers_404_to_an_outsider_removing(client_for, outsider, clinician):
    client = client_for(outsider)
    # Through lab A's URL (not a member) and through their own lab's URL (not their member).
    assert client.post(remove_url(clinician.pk)).status_code == 404
    assert client.post(remove_url(clinician.pk, slug="lab-b")).status_code == 404
    assert client.post(remove_url(uuid.uuid4(), slug="lab-b")).status_code == 404
    assert Membership.objects.filter(pk=clinician.pk).exists()


def test_it_lets_a_manager_revoke_an_invitation(client_for, manager):
    client = client_for(manager)
    client.post(invite_url(), {"email": "gone@example.test", "role": "clinician"})
    invitation = Invitation.objects.get()
    client.post(reverse("tenants:invitation_revoke", args=["lab-a", invitation.pk]))
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None
    assert AuditEvent.objects.filter(action=audit_actions.INVITATION_REVOKED).count() == 1


def test_it_hides_invitations_from_other_labs(client_for, manager, outsider, clinician):
    client_for(manager).post(invite_url(), {"email": "gone@example.test", "role": "clinician"})
    invitation = Invitation.objects.get()
    url_b = reverse("tenants:invitation_revoke", args=["lab-b", invitation.pk])
    assert client_for(outsider).post(url_b).status_code == 404
    url_a = reverse("tenants:invitation_revoke", args=["lab-a", invitation.pk])
    assert client_for(clinician).post(url_a).status_code == 403
    invitation.refresh_from_db()
    assert invitation.revoked_at is None
