"""Staff pages for operations: usage per lab and month (with its CSV for invoicing), the storage
dashboard, and read-only lists of reconciliation runs and job compute.

The pages are plain views wrapped in `admin.site.admin_view` (portal/urls.py), so they share the
admin's sign-in and look; figures come from jobs/records/usage.py and reconciliation.py."""

from __future__ import annotations

import time

from django.contrib import admin, messages
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db.models import Sum
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_http_methods

from common.admin import ReadOnlyAdminMixin
from common.sizes import format_size
from common.months import parse_month, shift_month
from common.queue import enqueue
from jobs.models import JobUsage, LabUsageSnapshot, ReconciliationRun
from jobs.records import usage
from jobs.records.reconciliation import bucket_totals, latest_run, unfinished_uploads
from storage.health import check_storage

OPERATIONS_PERMISSION = "jobs.view_reconciliationrun"


def require_operations(request) -> None:
    """Staff only (admin_view sends everyone else to sign in), and of the staff those who may
    view reconciliation runs: usage figures name every lab and feed invoices."""
    if not request.user.has_perm(OPERATIONS_PERMISSION):
        raise PermissionDenied("Seeing storage usage needs the “Can view reconciliation run” "
                               "permission; ask a superuser to grant it.")


def _chart(report: usage.UsageReport) -> dict:
    """Bar widths (percent of the largest lab) for the stacked storage bars and compute bars."""
    rows = report.rows
    most_stored = max((row.bytes_stored for row in rows), default=0) or 1
    most_hours = max((row.compute_hours for row in rows), default=0) or 1
    most_moved = max((max(row.bytes_uploaded, row.bytes_downloaded) for row in rows),
                     default=0) or 1
    return {"rows": [{
        "name": row.name, "stored": row.bytes_stored,
        "segments": [{"role": role, "bytes": row.stored.get(role, 0),
                      "width": 100 * row.stored.get(role, 0) / most_stored}
                     for role in usage.ROLES if row.stored.get(role)],
        "hours": row.compute_hours, "hours_width": 100 * row.compute_hours / most_hours,
        "uploaded_width": 100 * row.bytes_uploaded / most_moved,
        "downloaded_width": 100 * row.bytes_downloaded / most_moved,
        "uploaded": row.bytes_uploaded, "downloaded": row.bytes_downloaded,
    } for row in rows], "roles": usage.ROLES}


USAGE_CACHE_SECONDS = 60


def usage_view(request):
    require_operations(request)
    error = ""
    try:
        month = parse_month(request.GET["month"]) if request.GET.get("month") \
            else timezone.localdate().replace(day=1)
    except ValueError as exc:
        error, month = str(exc), timezone.localdate().replace(day=1)
    # The figures of a minute ago: the ledger's sums read every live object (about 30 ms with a
    # lab network's ledger), and staff reload this page; the page says when they were taken.
    report = cache.get_or_set(f"usage-report:v1:{month:%Y-%m}",
                              lambda: usage.usage_report(month=month), USAGE_CACHE_SECONDS)
    context = {
        **admin.site.each_context(request),
        "title": f"Usage in {month:%B %Y}",
        "report": report, "totals": report.totals, "chart": _chart(report), "error": error,
        "roles": usage.ROLES, "month_value": f"{month:%Y-%m}",
        "previous_month": f"{shift_month(month, -1):%Y-%m}",
        "next_month": f"{shift_month(month, 1):%Y-%m}",
    }
    return TemplateResponse(request, "admin/storage/usage.html", context)


def usage_csv_view(request):
    require_operations(request)
    try:
        month = parse_month(request.GET.get("month", ""))
    except ValueError as exc:
        return HttpResponseBadRequest(str(exc), content_type="text/plain; charset=utf-8")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="wes-usage-{month:%Y-%m}.csv"'
    usage.usage_export(user=request.user, month=month, out=response, request=request)
    return response


def _endpoint_health() -> dict:
    started = time.perf_counter()
    health = check_storage()
    health["latency_ms"] = round((time.perf_counter() - started) * 1000)
    return health


@require_http_methods(["GET", "POST"])
def storage_dashboard_view(request):
    require_operations(request)
    if request.method == "POST":
        enqueue("jobs.tasks.reconcile_storage", "admin", task_name="reconcile-storage")
        messages.info(request, "Reconciliation queued; its run appears below when it finishes.")
        return redirect("admin_storage_dashboard")
    health = _endpoint_health()
    run = latest_run()
    last = latest_run(completed=False)
    labs = []
    if run is not None:
        labs = list(run.snapshots.order_by().values("lab__name", "lab__slug")
                    .annotate(objects=Sum("object_count"), bytes=Sum("bytes_listed"))
                    .order_by("-bytes")[:10])
    context = {
        **admin.site.each_context(request),
        "title": "Storage dashboard",
        "health": health, "run": run,
        "last_failed": last if last is not None and last.status == "failed" else None,
        "buckets": bucket_totals(run),
        "labs": labs,
        # Listing uploads of a server that does not answer would only wait for six timeouts.
        "uploads": unfinished_uploads() if health["ok"] or "missing" in health.get("error", "")
        else None,
        "recent_runs": ReconciliationRun.objects.order_by("-started_at")[:8],
    }
    context["uploads_total"] = sum(len(b["uploads"]) for b in context["uploads"] or [])
    largest = max((b["bytes"] for b in context["buckets"]), default=0) or 1
    for bucket in context["buckets"]:
        bucket["width"] = 100 * bucket["bytes"] / largest
    return TemplateResponse(request, "admin/storage/dashboard.html", context)


class ReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    pass


def _keys(sample: list, template: str) -> str:
    if not sample:
        return "—"
    return format_html("<ul style='margin:0;padding-left:1em'>{}</ul>", format_html_join(
        "", "<li>" + template + "</li>", sample))


class LabUsageSnapshotInline(admin.TabularInline):
    model = LabUsageSnapshot
    extra = 0
    can_delete = False
    fields = ["lab", "status", "listed", "in_ledger", "unrecorded", "missing", "size_differs",
              "expired_count", "recent_count"]
    readonly_fields = fields
    ordering = ["bucket_role", "lab__name"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="listed")
    def listed(self, snapshot):
        return f"{snapshot.object_count} ({format_size(snapshot.bytes_listed)})"

    @admin.display(description="in ledger")
    def in_ledger(self, snapshot):
        return f"{snapshot.ledger_count} ({format_size(snapshot.ledger_bytes)})"

    @admin.display(description="unrecorded (in storage, not in the ledger)")
    def unrecorded(self, snapshot):
        return format_html("{} {}", snapshot.unrecorded_count, _keys(
            [(e["key"], e["size"]) for e in snapshot.unrecorded_sample], "{} ({} bytes)"))

    @admin.display(description="missing (in the ledger, not in storage)")
    def missing(self, snapshot):
        return format_html("{} {}", snapshot.missing_count, _keys(
            [(e["key"], e["size"]) for e in snapshot.missing_sample], "{} ({} bytes)"))

    @admin.display(description="size differs")
    def size_differs(self, snapshot):
        return format_html("{} {}", snapshot.size_mismatch_count, _keys(
            [(e["key"], e["listed"], e["recorded"]) for e in snapshot.size_mismatch_sample],
            "{}: {} listed, {} recorded"))


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(ReadOnlyAdmin):
    list_display = ["started_at", "status", "trigger", "objects_listed", "size", "differences",
                    "expired_count", "list_requests", "duration"]
    list_filter = ["status", "trigger"]
    date_hierarchy = "started_at"
    inlines = [LabUsageSnapshotInline]
    fields = ["started_at", "finished_at", "status", "trigger", "error", "list_requests",
              "objects_listed", "size", "unrecorded_count", "missing_count",
              "size_mismatch_count", "expired_count", "multipart_uploads"]
    readonly_fields = fields

    @admin.display(description="bytes listed")
    def size(self, run):
        return format_size(run.bytes_listed)

    @admin.display(description="differences")
    def differences(self, run):
        return run.differences

    @admin.display(description="took")
    def duration(self, run):
        if not run.finished_at:
            return "—"
        return f"{(run.finished_at - run.started_at).total_seconds():.1f} s"


@admin.register(JobUsage)
class JobUsageAdmin(ReadOnlyAdmin):
    list_display = ["job", "lab", "cpu_hours", "realtime_hours", "tasks", "recorded_at"]
    list_filter = ["lab"]
    list_select_related = ["job__sample", "lab"]

    @admin.display(description="CPU hours")
    def cpu_hours(self, row):
        return f"{row.cpu_seconds / 3600:.3f}"

    @admin.display(description="wall-clock hours")
    def realtime_hours(self, row):
        return f"{row.realtime_seconds / 3600:.3f}"


def admin_urls() -> list:
    """The staff pages, for portal/urls.py (before admin.site.urls, which would 404 them)."""
    from django.urls import path

    return [
        path("admin/usage/", admin.site.admin_view(usage_view), name="admin_usage"),
        path("admin/usage/csv/", admin.site.admin_view(usage_csv_view), name="admin_usage_csv"),
        path("admin/storage-dashboard/", admin.site.admin_view(storage_dashboard_view),
             name="admin_storage_dashboard"),
    ]
