from django.http import JsonResponse
from django.shortcuts import redirect
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
