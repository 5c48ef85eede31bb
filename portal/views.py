import sys

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
    report = run_checks()
    return JsonResponse(report, status=200 if report["status"] == "ok" else 503)


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
