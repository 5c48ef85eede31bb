from django.utils import timezone

from tenants.models import Invitation, Membership
from tenants.tokens import token_hash


def membership_list_for_user(user):
    return Membership.objects.filter(user=user).select_related("lab").order_by("lab__name")


def member_list(lab):
    return lab.memberships.select_related("user").order_by("user__email")


def pending_invitation_list(lab):
    return lab.invitations.filter(accepted_at=None, revoked_at=None,
                                  expires_at__gt=timezone.now()).order_by("email")


def invitation_by_token(token: str) -> Invitation | None:
    """The invitation a link's token names, whatever its state; the caller checks `is_pending`."""
    if not token or len(token) > 128:
        return None
    return Invitation.objects.select_related("lab").filter(token_hash=token_hash(token)).first()
