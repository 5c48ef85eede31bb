import hmac
import sys

from django.conf import settings

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.template import loader
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from portal.health import run_checks


@require_GET
def home(request):
    if request.user.is_authenticated:
        return redirect("tenants:lab_picker")
    return redirect("account_login")


@never_cache
@require_GET
def healthz(request):
    """Each part's state for anyone (a load balancer's probe); what failed and where (database
    type, the internal S3 address, paths, errors) only for staff signed in or a probe that sends
    `Authorization: Bearer <WES_HEALTH_TOKEN>`."""
    report = run_checks()
    if not _sees_health_details(request):
        report = {"status": report["status"],
                  "checks": {name: {"ok": check["ok"]} for name, check in report["checks"].items()}}
    return JsonResponse(report, status=200 if report["status"] == "ok" else 503)


def _sees_health_details(request) -> bool:
    token = settings.HEALTH_TOKEN
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if token and given and hmac.compare_digest(given.encode(), token.encode()):
        return True
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated and user.is_staff)


def server_error(request):
    """Django's handler500. A database that does not answer is an outage, not a fault: 503 with
    the portal's own "try again in a moment" page (and Retry-After). Both pages are rendered
    without the request context, whose processors would query the database again."""
    from redis.exceptions import ConnectionError as RedisDown

    failure = sys.exc_info()[1]
    outage = {OperationalError: "database", InterfaceError: "database", RedisDown: "task queue"}
    what = next((name for kind, name in outage.items() if isinstance(failure, kind)), None)
    context = {"what": what, "request_id": getattr(request, "request_id", "")}
    body = loader.get_template("503.html" if what else "500.html").render(context)
    response = HttpResponse(body, status=503 if what else 500)
    if what:
        response["Retry-After"] = "30"
    return response
