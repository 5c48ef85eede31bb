"""Sign-in events go to the audit log. Django and allauth announce them only through signals, so
the receivers live here, connected in `TenantsConfig.ready`."""

from allauth.mfa import signals as mfa_signals
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from tenants import audit_actions, mfa, session_limits
from tenants.audit import Actor, audit_record


@receiver(user_logged_in, dispatch_uid="audit_login")
def audit_login(sender, request, user, **kwargs):
    audit_record(actor=Actor.for_user(user), action=audit_actions.LOGIN, resource_type="user",
                 resource_id=user.pk, request=request)


@receiver(user_logged_out, dispatch_uid="audit_logout")
def audit_logout(sender, request, user, **kwargs):
    if user is None:
        return
    audit_record(actor=Actor.for_user(user), action=audit_actions.LOGOUT, resource_type="user",
                 resource_id=user.pk, request=request)


@receiver(user_login_failed, dispatch_uid="audit_login_failed")
def audit_login_failed(sender, credentials, request=None, **kwargs):
    claimed = credentials.get("email") or credentials.get("username") or ""
    audit_record(actor=Actor.anonymous(claimed), action=audit_actions.LOGIN_FAILED,
                 details={"claimed_identity": claimed[:254]}, request=request)



@receiver(user_logged_in, dispatch_uid="session_limits_start")
def start_session_limits(sender, request, user, **kwargs):
    if request is not None and hasattr(request, "session"):
        session_limits.start(request)
        request.user = user
        mfa.session_needs_mfa(request)      # decided now, while the sign-in saves the session


@receiver(mfa_signals.authenticator_added, dispatch_uid="audit_mfa_added")
def mfa_added(sender, request, user, authenticator, **kwargs):
    audit_record(actor=Actor.for_user(user), action=audit_actions.MFA_ENABLED, resource_type="user",
                 resource_id=user.pk, request=request, details={"type": authenticator.type})
    if authenticator.type == authenticator.Type.TOTP and request is not None:
        # Enrolling took a valid code from the new authenticator: this session has passed MFA.
        mfa.mark_session_passed(request, user, authenticator)


@receiver(mfa_signals.authenticator_removed, dispatch_uid="audit_mfa_removed")
def mfa_removed(sender, request, user, authenticator, **kwargs):
    audit_record(actor=Actor.for_user(user), action=audit_actions.MFA_DISABLED,
                 resource_type="user", resource_id=user.pk, request=request,
                 details={"type": authenticator.type})
