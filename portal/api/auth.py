"""Who is calling: the bearer token (tenants/api_tokens.py), checked at every request, then the
token's rate limit; and the two questions every operation asks of it (which lab, which scope)."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from django.http import Http404
from ninja.security import HttpBearer

from common.env import parse_rate
from portal.api.errors import ApiError
from tenants.api_tokens import TokenRefused, authenticate

def check_rate(prefix: str, *, now: float | None = None) -> None:
    """A fixed window per token in the shared cache: at most N calls per period; the call that
    passes the limit gets 429 with Retry-After (the seconds to the next window)."""
    limit, period = parse_rate(settings.API_RATE_LIMIT)
    now = time.time() if now is None else now
    window = int(now // period)
    key = f"wes-api-rate:{prefix}:{period}:{window}"
    cache.add(key, 0, timeout=period + 5)
    try:
        count = cache.incr(key)
    except ValueError:   # expired between add and incr
        cache.set(key, 1, timeout=period + 5)
        count = 1
    if count > limit:
        retry_after = max(1, int((window + 1) * period - now + 0.999))
        raise ApiError(429, f"Too many requests for this token: at most {limit} per "
                            f"{settings.API_RATE_LIMIT.split('/')[-1].strip()}. Try again in "
                            f"{retry_after} s.", headers={"Retry-After": str(retry_after)})


class TokenAuth(HttpBearer):
    def __call__(self, request):
        # a session cookie is no API credential: only the header counts
        if not request.headers.get("Authorization"):
            return None
        scheme, _, text = request.headers["Authorization"].partition(" ")
        if scheme.lower() != "bearer" or not text.strip():
            raise TokenRefused("Send the token as: Authorization: Bearer wes_...")
        return self.authenticate(request, text.strip())

    def authenticate(self, request, token):
        found = authenticate(token)
        request.api_token = found      # audit_record names it on every event of this request
        check_rate(found.prefix)
        return found


def membership_for(request, lab: str):
    """The token's membership when `lab` is its lab; 404 otherwise (as for a lab that does not
    exist: a token never learns which other labs there are)."""
    token = request.auth
    if lab != token.membership.lab.slug:
        raise Http404("No such lab")
    return token.membership


def require_upload(request) -> None:
    if not request.auth.allows_upload():
        raise ApiError(403, "This token may only read; creating samples, uploading and "
                            "submitting need a token with the upload scope.")
