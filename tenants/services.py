"""Writes for labs, memberships and invitations. Each one validates, saves and audits together."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from common.db import for_update
from tenants import audit_actions
from tenants.access import require_manager
from tenants.audit import SYSTEM, Actor, audit_record
from tenants.models import Invitation, Lab, Membership, Role
from tenants.tokens import new_token, token_hash

INVITATION_VALID_FOR = timedelta(days=7)


def lab_create(*, slug: str, name: str, created_by=None) -> Lab:
    lab = Lab(slug=slug, name=name)
    lab.full_clean()
    with transaction.atomic():
        lab.save()
        audit_record(actor=Actor.for_user(created_by) if created_by else SYSTEM,
                     action=audit_actions.LAB_CREATED, lab=lab, resource_type="lab",
                     resource_id=lab.pk, details={"slug": slug, "name": name})
    return lab


def membership_add(*, lab: Lab, user, role: str, added_by=None, request=None,
                   via_invitation: Invitation | None = None) -> Membership:
    """Make `user` a member of `lab`. Used by invitation acceptance and by staff provisioning."""
    if role not in Role.values:
        raise ValidationError(f"Unknown role {role!r}.")
    with transaction.atomic():
        if lab.memberships.filter(user=user).exists():
            raise ValidationError(f"{user.email} is already a member of {lab.name}.")
        membership = Membership.objects.create(lab=lab, user=user, role=role)
        details = {"email": user.email, "role": role}
        if via_invitation is not None:
            details["invitation"] = str(via_invitation.pk)
        audit_record(actor=Actor.for_user(added_by) if added_by else SYSTEM,
                     action=audit_actions.MEMBERSHIP_ADDED, lab=lab, resource_type="membership",
                     resource_id=membership.pk, details=details, request=request)
    return membership


def invitation_create(*, membership: Membership, email: str, role: str,
                      request=None) -> tuple[Invitation, str]:
    """A manager invites `email` into their lab. Returns the invitation and its one-time token.

    A person who is already a member cannot be invited again; re-inviting someone with a pending
    invitation revokes the old one, so only the newest link works.
    """
    require_manager(membership)
    email = (email or "").strip().lower()
    validate_email(email)
    if role not in Role.values:
        raise ValidationError(f"Unknown role {role!r}.")
    lab = membership.lab
    if lab.memberships.filter(user__email__iexact=email).exists():
        raise ValidationError(f"{email} is already a member of {lab.name}.")

    token = new_token()
    now = timezone.now()
    actor = Actor.for_user(membership.user)
    with transaction.atomic():
        for old in for_update(lab.invitations).filter(
                email__iexact=email, accepted_at=None, revoked_at=None):
            old.revoked_at = now
            old.save(update_fields=["revoked_at"])
            audit_record(actor=actor, action=audit_actions.INVITATION_REVOKED, lab=lab,
                         resource_type="invitation", resource_id=old.pk,
                         details={"email": email, "reason": "replaced by a new invitation"},
                         request=request)
        invitation = Invitation.objects.create(
            lab=lab, email=email, role=role, token_hash=token_hash(token),
            invited_by=membership.user, expires_at=now + INVITATION_VALID_FOR)
        audit_record(actor=actor, action=audit_actions.INVITATION_CREATED, lab=lab,
                     resource_type="invitation", resource_id=invitation.pk,
                     details={"email": email, "role": role}, request=request)
        accept_url = reverse("tenants:invitation_accept", args=[token])
        if request is not None:
            accept_url = request.build_absolute_uri(accept_url)
        transaction.on_commit(lambda: _send_invitation_email(invitation, accept_url))
    return invitation, token


def _send_invitation_email(invitation: Invitation, accept_url: str) -> None:
    context = {"invitation": invitation, "accept_url": accept_url,
               "valid_days": INVITATION_VALID_FOR.days}
    send_mail(
        subject=f"You are invited to {invitation.lab.name} on WES Portal",
        message=render_to_string("tenants/email/invitation.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[invitation.email],
    )


def invitation_accept(*, invitation: Invitation, user, request=None) -> Membership:
    """The invited person joins the lab. The account's email must be the invited one."""
    with transaction.atomic():
        invitation = for_update(Invitation.objects).select_related("lab").get(
            pk=invitation.pk)
        if not invitation.is_pending():
            raise ValidationError("This invitation has expired, was revoked or was already used.")
        if user.email.lower() != invitation.email.lower():
            raise PermissionDenied(f"This invitation is for {invitation.email}, but you are "
                                   f"logged in as {user.email}.")
        membership = membership_add(lab=invitation.lab, user=user, role=invitation.role,
                                    added_by=user, request=request, via_invitation=invitation)
        invitation.accepted_at = timezone.now()
        invitation.accepted_by = user
        invitation.save(update_fields=["accepted_at", "accepted_by"])
        audit_record(actor=Actor.for_user(user), action=audit_actions.INVITATION_ACCEPTED,
                     lab=invitation.lab, resource_type="invitation", resource_id=invitation.pk,
                     details={"email": invitation.email, "role": invitation.role},
                     request=request)
    return membership


def invitation_revoke(*, membership: Membership, invitation: Invitation, request=None) -> None:
    require_manager(membership)
    if invitation.lab_id != membership.lab_id:
        raise PermissionDenied("That invitation belongs to another lab.")
    with transaction.atomic():
        invitation = for_update(Invitation.objects).get(pk=invitation.pk)
        if invitation.accepted_at or invitation.revoked_at:
            raise ValidationError("This invitation is no longer pending.")
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
        audit_record(actor=Actor.for_user(membership.user), action=audit_actions.INVITATION_REVOKED,
                     lab=membership.lab, resource_type="invitation", resource_id=invitation.pk,
                     details={"email": invitation.email}, request=request)


def membership_remove(*, membership: Membership, target: Membership, request=None) -> None:
    """A manager removes a member. A lab always keeps at least one manager."""
    require_manager(membership)
    if target.lab_id != membership.lab_id:
        raise PermissionDenied("That member belongs to another lab.")
    with transaction.atomic():
        managers = list(for_update(Membership.objects).filter(
            lab_id=membership.lab_id, role=Role.MANAGER).values_list("pk", flat=True))
        if target.role == Role.MANAGER and managers == [target.pk]:
            raise ValidationError(f"{target.user.email} is the lab's only manager; invite another "
                                  "manager before removing them.")
        audit_record(actor=Actor.for_user(membership.user), action=audit_actions.MEMBERSHIP_REMOVED,
                     lab=membership.lab, resource_type="membership", resource_id=target.pk,
                     details={"email": target.user.email, "role": target.role}, request=request)
        target.delete()


def user_for_email(email: str):
    return get_user_model().objects.filter(email__iexact=email).first()


def membership_notifications_set(*, membership, enabled: bool, request=None):
    membership.email_notifications = enabled
    with transaction.atomic():
        membership.save(update_fields=["email_notifications"])
        audit_record(actor=Actor.for_user(membership.user), action=audit_actions.NOTIFICATIONS_CHANGED,
                     lab=membership.lab, resource_type="membership", resource_id=membership.pk,
                     request=request, details={"email_notifications": enabled})
    return membership
