"""Jobs in the admin: the read-only list for staff, legal holds, and the retention page.

Opening a job's page here shows patient data (identifiers, QC), so every such view is audited as a
PHI access, as it is for lab members.
"""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_http_methods

from common.admin import LargeTableAdminMixin, ReadOnlyAdminMixin
from common.sizes import format_size
from jobs.intake.admin import PhiViewAudited
from jobs.models import InvalidTransition, Job, JobOutput
from jobs.records.usage_admin import require_operations
from jobs.results.qc import qc_rows
from storage import s3
from storage.buckets import REGISTRY, bucket_name
from jobs.records.retention import (
    bucket_rules_reapply,
    bucket_statuses,
    hold_objects_pending,
    jobs_hold_objects_queued,
    job_hold_lift,
    job_hold_objects_retry,
    job_hold_place,
    jobs_archiving_soon,
    jobs_on_hold,
    records_key_here,
)
from storage.s3 import StorageError
from tenants import audit_actions


class JobOutputInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = JobOutput
    fields = ["path", "bucket_role", "size_shown", "sha256", "verified_at"]
    readonly_fields = ["size_shown"]
    extra = 0

    @admin.display(description="Size")
    def size_shown(self, output):
        return format_html('<span title="{} bytes">{}</span>', f"{output.size:,}",
                           format_size(output.size))


class LegalHoldForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), max_length=2000,
        help_text="Recorded on the job and in the audit log, e.g. the case or request reference.")


class LiftHoldForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), max_length=2000,
        help_text="Why the hold ends (recorded in the audit log).")


@admin.register(Job)
class JobAdmin(PhiViewAudited, LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    view_action = audit_actions.JOB_ADMIN_VIEWED
    list_action = audit_actions.JOB_ADMIN_LISTED
    list_display = ["sample_name", "external_id", "lab", "status", "finished_at", "archived_on",
                    "expires", "hold"]
    list_filter = ["lab", "status", "legal_hold"]
    list_select_related = ["lab", "sample"]
    list_defer = ("progress", "qc", "archive_manifest", "error", "reanalysis_reason",
                  "sample__clinical_indication", "sample__hpo_terms", "sample__rejection_reason",
                  "sample__verification_note")
    search_fields = ["sample__name", "sample__external_id"]
    ordering = ["-submitted_at", "-id"]
    list_per_page = 50
    inlines = [JobOutputInline]
    actions = ["place_legal_hold", "lift_legal_hold"]
    change_list_template = "admin/jobs/job/change_list.html"
    fieldsets = [
        (None, {"fields": ["sample", "lab", "status", "submitted_by", "submitted_at",
                           "started_at", "finished_at", "runner", "attempts", "failed_step",
                           "exit_code", "error"]}),
        ("Steps", {"fields": ["steps"]}),
        ("QC", {"fields": ["qc_shown"]}),
        ("Retention", {"fields": ["legal_hold", "legal_hold_reason", "legal_hold_by",
                                  "legal_hold_at", "hold_objects", "archived_at", "archive_key",
                                  "archive_shown", "purged_at"]}),
    ]
    readonly_fields = ["steps", "qc_shown", "archive_shown", "hold_objects"]

    @admin.display(description="Steps")
    def steps(self, job):
        if not job.progress:
            return "—"
        return format_html(
            "<table><tr><th>Step</th><th>State</th><th>Duration</th><th>Exit</th></tr>{}</table>",
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", (
                (s.get("process", ""), s.get("status", ""),
                 "–" if s.get("duration_s") is None else f"{s['duration_s']:.1f} s",
                 "–" if s.get("exit_code") is None else s["exit_code"])
                for s in job.progress)))

    @admin.display(description="QC")
    def qc_shown(self, job):
        figures = qc_rows(job.qc)
        if not figures:
            return "—"
        return format_html("<table>{}</table>", format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((f["label"], f["display"], f["status"] or "") for f in figures)))

    @admin.display(description="Archive")
    def archive_shown(self, job):
        if not job.archive_size:
            return "—"
        return f"{format_size(job.archive_size)}, SHA-256 {job.archive_sha256}"

    @admin.display(description="Sample", ordering="sample__name")
    def sample_name(self, job):
        return job.sample.name

    @admin.display(description="Identifier", ordering="sample__external_id")
    def external_id(self, job):
        return job.sample.external_id

    @admin.display(description="Archive", ordering="archived_at")
    def archived_on(self, job):
        if job.archived_at:
            return f"archived {job.archived_at:%Y-%m-%d}"
        due = job.archive_due_on()
        if not due:
            return "—"
        if job.legal_hold:
            return f"not while held (due {due:%Y-%m-%d})"
        return f"{'overdue since' if due <= timezone.localdate() else 'due'} {due:%Y-%m-%d}"

    @admin.display(description="Deleted on")
    def expires(self, job):
        if job.purged_at:
            return f"purged {job.purged_at:%Y-%m-%d}"
        date = job.expires_on()
        if not date:
            return "—"
        return f"not while held (else {date:%Y-%m-%d})" if job.legal_hold else f"{date:%Y-%m-%d}"

    def prepare_rows(self, jobs):
        """A page's held jobs whose objects wait for the records worker, in one query."""
        queued = jobs_hold_objects_queued(jobs)
        for job in jobs:
            job.hold_objects_queued = job.pk in queued

    @admin.display(description="Legal hold", ordering="legal_hold")
    def hold(self, job):
        if not job.legal_hold:
            return ""   # a release still to do shows on the job's page; unheld rows cost no query
        queued = getattr(job, "hold_objects_queued", None)
        if queued is None:   # a row drawn without prepare_rows
            queued = bool(hold_objects_pending(job))
        pending = " (stored objects not yet held)" if queued else ""
        return f"HELD: {job.legal_hold_reason}{pending}"

    @admin.display(description="Stored objects")
    def hold_objects(self, job):
        pending = hold_objects_pending(job)
        if pending:
            return pending
        return "under S3 legal hold" if job.legal_hold else "—"

    def has_hold_permission(self, request):
        return request.user.is_active and request.user.is_staff and \
            request.user.has_perm("jobs.change_job")

    @admin.action(description="Place legal hold", permissions=["hold"])
    def place_legal_hold(self, request, queryset):
        return self._hold_step(request, queryset, LegalHoldForm, title="Place a legal hold",
                               service=job_hold_place, held=True)

    @admin.action(description="Lift legal hold", permissions=["hold"])
    def lift_legal_hold(self, request, queryset):
        return self._hold_step(request, queryset, LiftHoldForm, title="Lift the legal hold",
                               service=job_hold_lift, held=False)

    def _hold_step(self, request, queryset, form_class, *, title, service, held):
        """An intermediate page asks for the reason; its POST applies the service to each job. A
        job already as asked whose stored objects are not yet held (or released) has the records
        task queued again: that is how staff retry after the records worker failed."""
        form = form_class(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            at_once = records_key_here()
            changed, retried, refused = [], [], []
            for job in queryset.select_related("sample"):
                try:
                    if job.legal_hold == held and hold_objects_pending(job):
                        job_hold_objects_retry(job=job)
                        retried.append(job.sample.name)
                        continue
                    service(actor=request.user, job=job, reason=form.cleaned_data["reason"],
                            request=request)
                    changed.append(job.sample.name)
                except (InvalidTransition, StorageError) as exc:
                    refused.append(f"{job.sample.name}: {exc}")
            if changed:
                self.message_user(request, _hold_done(changed, held=held, at_once=at_once),
                                  messages.SUCCESS)
            if retried:
                how = "set again" if at_once else "queued again for the records worker"
                self.message_user(request, f"Stored objects of {len(retried)} job(s) {how}: "
                                  f"{', '.join(retried)}", messages.SUCCESS)
            for line in refused:
                self.message_user(request, f"Not changed: {line}", messages.WARNING)
            return None
        return TemplateResponse(request, "admin/jobs/job/legal_hold.html", {
            **self.admin_site.each_context(request),
            "title": title, "form": form, "jobs": queryset.select_related("sample", "lab"),
            "action": request.POST.get("action"), "opts": self.model._meta,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "by_records_worker": not records_key_here(),
        })


def _hold_done(names: list[str], *, held: bool, at_once: bool) -> str:
    listed = ", ".join(names)
    if at_once:
        return f"{len(names)} job(s) {'under' if held else 'no longer under'} legal hold: {listed}"
    if held:
        return (f"Legal hold placed on {len(names)} job(s): {listed}; the records worker is "
                "locking their stored objects")
    return (f"Legal hold lifted from {len(names)} job(s): {listed}; the records worker is "
            "releasing their stored objects")


@require_http_methods(["GET", "POST"])
def retention_view(request):
    """Buckets' rules as configured and as the server has them, with a button that applies them
    again; jobs under legal hold; jobs due for archiving soon. Staff with the operations
    permission, like the usage and storage pages (admin_view sends everyone else to log in)."""
    require_operations(request)
    if request.method == "POST":
        return _reapply(request)
    soon = [(job, job.archive_due_on()) for job in jobs_archiving_soon()[:100]]
    return TemplateResponse(request, "admin/retention.html", {
        **admin.site.each_context(request),
        "title": "Retention and storage rules",
        "buckets": bucket_statuses(), "held": jobs_on_hold(), "soon": soon,
        "archive_after_days": settings.ARCHIVE_AFTER_DAYS,
        "retention_days": settings.ARCHIVE_RETENTION_DAYS,
        "archives_bucket": bucket_name("archives"),
    })


def _reapply(request):
    role = request.POST.get("bucket", "")
    names = {rule.role: rule.name for rule in REGISTRY}
    if role not in names:
        messages.error(request, f"There is no bucket {role!r}; nothing was changed.")
        return redirect("admin_retention")
    try:
        report = bucket_rules_reapply(actor=request.user, role=role, request=request)
    except s3.StorageError as exc:
        messages.error(request, f"Bucket {names[role]}: rules not applied: {exc}")
        return redirect("admin_retention")
    if report.changes:
        messages.success(request, "Re-applied: " + "; ".join(report.changes))
    else:
        messages.success(request, f"Bucket {names[role]} already matches the configuration.")
    for line in report.unsupported:
        messages.warning(request, f"Not supported by this server: {line}")
    return redirect("admin_retention")
