"""Headers every page carries: no copy of a signed-in user's pages in any cache, and the
Content-Security-Policy (portal/settings.py, sent by django-csp)."""

from csp.middleware import CSPMiddleware
from django.conf import settings
from django.utils.cache import add_never_cache_headers

from common.env import origin_of


class NoStoreWhenSignedInMiddleware:
    """A signed-in user's pages may show patient data: `Cache-Control: no-store` (and private,
    max-age=0) on every response to them, so neither the browser's cache nor a proxy keeps a copy
    (Back after signing out shows nothing). Static files never reach this: WhiteNoise answers
    them first."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            add_never_cache_headers(response)
        return response


class PolicyMiddleware(CSPMiddleware):
    """django-csp's middleware, with storage's public origin read when each page is answered
    (settings.MINIO_PUBLIC_ENDPOINT, which tests and the dev launcher set after start-up): the
    browser PUTs upload parts there, and a download form answers with a redirect to it."""

    def get_policy_parts(self, request, response, report_only=False):
        parts = super().get_policy_parts(request, response, report_only)
        storage = origin_of(settings.MINIO_PUBLIC_ENDPOINT)
        parts.update = {**(parts.update or {}), "connect-src": [storage],
                        "form-action": [storage]}
        return parts
