import re
import uuid
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.models import AnonymousUser
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import Resolver404, resolve, reverse

from common.client_ip import client_ip
from tenants import audit_actions, mfa, session_limits
from tenants.audit import Actor, audit_record

REQUEST_ID_HEADER = "HTTP_X_REQUEST_ID"
ACCEPTABLE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def is_api(request) -> bool:
    """The JSON API (portal/api/): token-authenticated, so the session's sign-in limits and
    two-factor step do not apply to it."""
    return request.path_info.startswith("/api/")


class RequestIdMiddleware:
    """Gives every request an id (the proxy's `X-Request-ID` when it is sane) for logs and audit."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        offered = request.META.get(REQUEST_ID_HEADER, "")
        request.request_id = offered if ACCEPTABLE_REQUEST_ID.match(offered) else uuid.uuid4().hex
        response = self.get_response(request)
        response["X-Request-ID"] = request.request_id
        return response


class SessionLimitsMiddleware:
    """Ends a session (server-side: its row is deleted) once it has been idle longer than
    SESSION_IDLE_SECONDS or signed in longer than SESSION_MAX_SECONDS, with an audit event and a
    message on the sign-in page; otherwise notes the activity (at most once a minute)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # the API authenticates each call by its token, never by this session (portal/api/)
        if request.user.is_authenticated and not is_api(request):
            reason = session_limits.expired_reason(request)
            if reason:
                user = request.user
                audit_record(actor=Actor.for_user(user), action=audit_actions.SESSION_EXPIRED,
                             resource_type="user", resource_id=user.pk, request=request,
                             details={"reason": reason})
                session_limits.end(request)
                request.user = AnonymousUser()
                messages.info(request, SESSION_ENDED_MESSAGES[reason])
            else:
                session_limits.touch(request, client_ip(request))
        return self.get_response(request)


SESSION_ENDED_MESSAGES = {
    "idle": "You were signed out after a period without activity. Sign in again to continue.",
    "max_age": "Your session reached its maximum length. Sign in again to continue.",
}

# What a user who must use two-factor authentication, and has not in this session, may still
# reach: the code step and signing out; without an authenticator yet, also enrolment and the
# recovery codes it shows.
MFA_CODE_STEP_URL_NAMES = {"mfa_authenticate", "mfa_reauthenticate", "account_logout",
                           "account_login", "healthz"}
MFA_ENROLMENT_URL_NAMES = MFA_CODE_STEP_URL_NAMES | {
    "mfa_activate_totp", "mfa_view_recovery_codes", "mfa_download_recovery_codes",
    "mfa_index", "account_reauthenticate"}


class MfaRequiredMiddleware:
    """Lab managers and staff (settings.MFA_REQUIRED_ROLES) reach no page, the admin included,
    before this session has passed two-factor authentication: one without an authenticator is
    sent to set one up (and then on to where they were going), one with an authenticator who
    signed in before enrolling is asked for a code."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if (user.is_authenticated and not is_api(request)
                and not request.path_info.startswith("/" + settings.STATIC_URL.lstrip("/"))
                and mfa.session_needs_mfa(request)):
            enrolled = mfa.has_totp(user)
            allowed = MFA_CODE_STEP_URL_NAMES if enrolled else MFA_ENROLMENT_URL_NAMES
            if self._url_name(request) not in allowed:
                return self._redirect(request, enrolled)
        return self.get_response(request)

    @staticmethod
    def _url_name(request) -> str | None:
        try:
            return resolve(request.path_info).url_name
        except Resolver404:
            return None

    @staticmethod
    def _redirect(request, enrolled: bool):
        going_to = request.get_full_path() if request.method == "GET" else reverse(
            "tenants:lab_picker")
        if enrolled:
            target = f"{reverse('mfa_reauthenticate')}?{urlencode({'next': going_to})}"
            message = "Enter the code from your authenticator app to continue."
        else:
            request.session[mfa.NEXT_SESSION_KEY] = going_to
            target = reverse("mfa_activate_totp")
            message = "Set up two-factor authentication to continue."
        if request.headers.get("HX-Request") or "application/json" in request.headers.get(
                "Accept", "") or request.content_type == "application/json":
            return JsonResponse({"error": message, "redirect": target}, status=403)
        return redirect(target)
