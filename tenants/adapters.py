from allauth.account.adapter import DefaultAccountAdapter
from django import forms
from django.core.exceptions import ValidationError

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

    def format_email_subject(self, subject):
        """The portal's name, not the Sites framework's domain ("[example.com]"), in front."""
        return subject if subject.startswith("WES Portal") else f"WES Portal: {subject}"

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
