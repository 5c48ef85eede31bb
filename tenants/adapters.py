import time

from allauth.account.adapter import DefaultAccountAdapter
from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.usersessions.adapter import DefaultUserSessionsAdapter
from django import forms
from django.core.exceptions import PermissionDenied, ValidationError

from common.client_ip import client_ip

from tenants import audit_actions
from tenants.audit import Actor, audit_record
from tenants.selectors import invitation_by_token

INVITATION_SESSION_KEY = "wes_invitation_token"


def pending_invitation(request):
    token = request.session.get(INVITATION_SESSION_KEY) if request is not None else None
    invitation = invitation_by_token(token) if token else None
    return invitation if invitation is not None and invitation.is_pending() else None


def user_display(user) -> str:
    return user.email or user.get_username()


class InvitationOnlyAccountAdapter(DefaultAccountAdapter):
    """No open sign-up: an account can only be created by following a valid lab invitation, and
    only for the address the invitation was sent to (which the link itself has just verified)."""

    error_messages = {
        **DefaultAccountAdapter.error_messages,
        "too_many_login_attempts": "Too many failed sign-in attempts. Wait 5 minutes, then try "
                                   "again, or reset your password.",
    }

    def pre_authenticate(self, request, **credentials):
        """Attempts refused by the rate limit never reach Django's authenticate(), so they would
        leave no trace; record them as failed sign-ins too."""
        try:
            super().pre_authenticate(request, **credentials)
        except ValidationError:
            claimed = credentials.get("email") or credentials.get("username") or ""
            audit_record(actor=Actor.anonymous(claimed), action=audit_actions.LOGIN_FAILED,
                         details={"claimed_identity": claimed[:254], "reason": "rate limited"},
                         request=request)
            raise

    def add_message(self, request, level, message_template=None, message_context=None,
                    extra_tags="", message=None):
        """No "Logged in as …" while the session still owes its second factor: it would greet
        the user on the two-factor set-up page, before the sign-in is done."""
        if message_template == "account/messages/logged_in.txt" and request is not None \
                and getattr(request, "user", None) is not None \
                and request.user.is_authenticated:
            from tenants.mfa import session_needs_mfa

            if session_needs_mfa(request):
                return
        super().add_message(request, level, message_template, message_context,
                            extra_tags=extra_tags, message=message)

    def format_email_subject(self, subject):
        """The portal's name, not the Sites framework's domain ("[example.com]"), in front."""
        return subject if subject.startswith("WES Portal") else f"WES Portal: {subject}"

    def get_client_ip(self, request):
        """allauth's rate limits and session list read the address by the portal's one rule."""
        address = client_ip(request)
        if not address:
            raise PermissionDenied("Unable to determine the client's address.")
        return address

    def _get_login_attempts_cache_key(self, request, **credentials):
        """The per-account failure limit counts per account *and address*: failures from an
        attacker's address do not lock out the owner signing in from another one (the per-IP
        limit still slows the attacker down)."""
        return f"{super()._get_login_attempts_cache_key(request, **credentials)}@{client_ip(request)}"

    def is_reauthentication_required(self, *, app, **kwargs):
        """Setting up two-factor authentication right after signing in (the guided first step
        for managers and staff) does not ask for the password a second time, nor does seeing the
        recovery codes right after: a sign-in (or code step) in the last few minutes counts as
        recent, for a user with no authenticator yet or a session that passed the code step.
        Later changes ask again."""
        required = super().is_reauthentication_required(app=app, **kwargs)
        if required and app == "allauth.mfa":
            from allauth.account import app_settings as account_settings
            from allauth.account.internal.flows.login import get_authentication_records
            from allauth.core import context
            from allauth.mfa.utils import is_mfa_enabled

            from tenants.mfa import session_passed_mfa

            request = context.request
            records = get_authentication_records(request, request.user) if request else []
            recent = records and time.time() - records[-1]["at"] < \
                account_settings.REAUTHENTICATION_TIMEOUT
            if recent and (session_passed_mfa(request) or not is_mfa_enabled(request.user)):
                return False
        return required

    def is_open_for_signup(self, request):
        return pending_invitation(request) is not None

    def clean_email(self, email):
        email = super().clean_email(email)
        invitation = pending_invitation(self.request)
        if invitation is not None and email.lower() != invitation.email.lower():
            raise forms.ValidationError(
                f"This invitation is for {invitation.email}; sign up with that address.")
        return email

    def save_user(self, request, user, form, commit=True):
        from tenants.services import invitation_accept

        user = super().save_user(request, user, form, commit=commit)
        invitation = pending_invitation(request)
        if commit and invitation is not None:
            invitation_accept(invitation=invitation, user=user, request=request)
            request.session.pop(INVITATION_SESSION_KEY, None)
        return user


class AuditedUserSessionsAdapter(DefaultUserSessionsAdapter):
    """Ending sessions from the sessions page is audited, one event per session ended."""

    def end_sessions(self, sessions):
        from allauth.core import context

        request = context.request
        for session in sessions:
            audit_record(actor=Actor.for_user(request.user), action=audit_actions.SESSIONS_ENDED,
                         resource_type="user", resource_id=session.user_id, request=request,
                         details={"ip": session.ip, "user_agent": session.user_agent[:200],
                                  "started": session.created_at.isoformat()})
        super().end_sessions(sessions)


class RequiredMfaAdapter(DefaultMFAAdapter):
    """Someone who must use two-factor authentication cannot switch their authenticator app off
    (they can still regenerate recovery codes); anyone else can."""

    error_messages = {
        **DefaultMFAAdapter.error_messages,
        "cannot_delete_authenticator": "Your role requires two-factor authentication, so the "
                                       "authenticator app cannot be switched off. Ask an "
                                       "administrator to reset it if you lost the device.",
    }

    def can_delete_authenticator(self, authenticator):
        from tenants.mfa import mfa_required

        if authenticator.type == authenticator.Type.TOTP and mfa_required(authenticator.user):
            return False
        return super().can_delete_authenticator(authenticator)
