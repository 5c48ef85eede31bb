"""Who must use two-factor authentication, and whether this session has passed it.

allauth does the TOTP and recovery-code work (enrolment, the code step at sign-in) but leaves
enforcement to the project: `portal.middleware.MfaRequiredMiddleware` asks these questions.
A session has passed MFA when allauth's authentication records for it hold an "mfa" step: the
code step of a sign-in, an MFA re-authentication, or enrolling an authenticator in this session
(which proves the user holds it)."""

from __future__ import annotations

from allauth.account.internal.flows.login import get_authentication_records, record_authentication
from allauth.mfa.models import Authenticator
from django.conf import settings

from tenants import session_limits
from tenants.models import Membership

# Where an enrolling user was going, so the recovery-codes page can send them on.
NEXT_SESSION_KEY = "wes_mfa_next"
# This session's user was found not to need MFA as of this last-seen time: re-checked when the
# session's activity is written (tenants/session_limits.py, at most once a minute), so a
# clinician made a manager is asked within a minute, with no query or write on other requests.
NOT_REQUIRED_AS_OF_KEY = "wes_mfa_not_required_as_of"


def mfa_required(user) -> bool:
    roles = set(settings.MFA_REQUIRED_ROLES)
    if "staff" in roles and (user.is_staff or user.is_superuser):
        return True
    lab_roles = roles - {"staff"}
    return bool(lab_roles) and Membership.objects.filter(user=user, role__in=lab_roles).exists()


def session_needs_mfa(request) -> bool:
    """True when this session's user must use MFA and the session has not passed it."""
    if session_passed_mfa(request):
        return False
    seen = request.session.get(session_limits.SEEN_KEY)
    if seen is not None and request.session.get(NOT_REQUIRED_AS_OF_KEY) == seen:
        return False
    if mfa_required(request.user):
        return True
    request.session[NOT_REQUIRED_AS_OF_KEY] = seen
    return False


def session_passed_mfa(request) -> bool:
    return any(record.get("method") == "mfa"
               for record in get_authentication_records(request, request.user))


def has_totp(user) -> bool:
    return Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()


def mark_session_passed(request, user, authenticator) -> None:
    """Record the MFA step in the session the way allauth's own code step does."""
    record_authentication(request, user, "mfa", id=authenticator.pk, type=authenticator.type)
