"""Who may touch what. Every view that takes a lab or an id from the URL goes through here.

Rules:
- A lab is reached only through the requesting user's membership of it. A lab that does not exist
  and a lab the user does not belong to give the same 404, so slugs and ids cannot be probed.
- Objects are looked up inside the membership's lab, never by id alone.
- Read access (any member) and manager-only actions are separate checks; a clinician asking for a
  manager-only action gets 403, because they can already see that the thing exists.
"""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, JsonResponse

from tenants.models import Invitation, Membership


def access_lab(user, lab_slug: str) -> Membership:
    """The user's membership of the lab named `lab_slug`; 404 when there is none."""
    if not user.is_authenticated:
        raise Http404("No such lab")
    try:
        return Membership.objects.select_related("lab", "user").get(lab__slug=lab_slug, user=user)
    except Membership.DoesNotExist:
        raise Http404("No such lab") from None


def require_manager(membership: Membership) -> None:
    """Manager-only actions: inviting, removing members, and (later) signing out reports."""
    if not membership.is_manager:
        raise PermissionDenied("Only a lab manager can do this.")


def access_member(membership: Membership, member_id) -> Membership:
    """Another membership of the same lab; 404 for one of another lab or one that does not exist."""
    try:
        return membership.lab.memberships.select_related("user").get(pk=member_id)
    except (Membership.DoesNotExist, ValidationError):
        raise Http404("No such member") from None


def access_invitation(membership: Membership, invitation_id) -> Invitation:
    try:
        return membership.lab.invitations.get(pk=invitation_id)
    except (Invitation.DoesNotExist, ValidationError):
        raise Http404("No such invitation") from None


def lab_view(*, manager_only: bool = False):
    """Decorate a view taking `lab_slug`: resolves `request.membership` and `request.lab` first."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, lab_slug, *args, **kwargs):
            if not request.user.is_authenticated:
                return _signed_out(request)
            membership = access_lab(request.user, lab_slug)
            if manager_only:
                require_manager(membership)
            request.membership = membership
            request.lab = membership.lab
            return view(request, *args, **kwargs)

        wrapper.lab_scoped = True  # checked by tenants/tests/test_access_rules.py
        return wrapper

    return decorator


SIGNED_OUT = "You are signed out (your session ended). Sign in again in another tab, then retry."


def _signed_out(request):
    """A page goes to the sign-in page and back; a script asking for JSON (the uploader) gets
    401 with the reason, where following the redirect would hand it the sign-in page's HTML."""
    if "application/json" in request.headers.get("Accept", ""):
        return JsonResponse({"errors": {"__all__": [SIGNED_OUT]}}, status=401)
    return redirect_to_login(request.get_full_path())
