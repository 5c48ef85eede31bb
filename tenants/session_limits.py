"""Idle and absolute limits of a signed-in session, kept in the session itself and enforced by
`portal.middleware.SessionLimitsMiddleware`.

The session stores when it was signed in and when it was last seen; "last seen" (and so the
session row's expiry date, and the sessions page's row) is written at most once a minute, so a
busy page costs no extra writes. Every request counts as activity, including the browser
uploader's part-signing requests, so a long upload keeps its session alive."""

from __future__ import annotations

import time

from allauth.usersessions.models import UserSession
from django.conf import settings
from django.utils import timezone

STARTED_KEY = "wes_session_started"
SEEN_KEY = "wes_session_seen"
TOUCH_EVERY_SECONDS = 60


def start(request) -> None:
    now = time.time()
    request.session[STARTED_KEY] = now
    request.session[SEEN_KEY] = now


def expired_reason(request) -> str | None:
    """"idle" or "max_age" when the session has outlived a limit; None while it is current."""
    started = request.session.get(STARTED_KEY)
    seen = request.session.get(SEEN_KEY)
    if started is None or seen is None:
        return None
    now = time.time()
    if now - started > settings.SESSION_MAX_SECONDS:
        return "max_age"
    if now - seen > settings.SESSION_IDLE_SECONDS:
        return "idle"
    return None


def touch(request, ip: str | None) -> None:
    """Note activity, at most once a minute: the session's last-seen time (saving the session
    also moves its row's expiry date, SESSION_COOKIE_AGE = the idle limit and a minute, so the
    row itself expires when the user stops), and the sessions page's row."""
    now = time.time()
    started = request.session.get(STARTED_KEY)
    seen = request.session.get(SEEN_KEY)
    if started is None or seen is None:
        # A session from before the limits existed: it starts counting now.
        start(request)
    elif now - seen < TOUCH_EVERY_SECONDS:
        return
    else:
        request.session[SEEN_KEY] = now
    if not request.session.session_key:
        request.session.save()
    key = request.session.session_key
    updated = UserSession.objects.filter(session_key=key).update(
        last_seen_at=timezone.now(), **({"ip": ip} if ip else {}))
    if not updated and ip:
        UserSession.objects.create(session_key=key, user=request.user, ip=ip,
                                   user_agent=request.META.get("HTTP_USER_AGENT", "")[:200])


def end(request) -> None:
    """The session row and its sessions-page row are deleted, not just the cookie."""
    key = request.session.session_key
    if key:
        UserSession.objects.filter(session_key=key).delete()
    request.session.flush()
