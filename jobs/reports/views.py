"""Report pages: the review queue, a job's report versions, sign-out, amendment, PDF downloads."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from common.paging import list_page
from common.urls import url_with_id
from jobs.models import ReportStatus
from jobs.reports import downloads, selectors, services
from jobs.reports.access import access_report
from jobs.reports.forms import AmendForm, DraftForm, SignOutForm
from jobs.results.qc import qc_section
from jobs.results.views import download_reason_page
from jobs.review.panels import panel_versions
from jobs.review.selection import review_digest, selected_variants
from jobs.runs.access import access_job
from storage.s3 import StorageError
from tenants import audit_actions
from tenants.access import lab_view
from tenants.audit import Actor, audit_record


@lab_view(manager_only=True)
@require_GET
def review_queue(request):
    page = list_page(selectors.reports_pending_review(request.lab), request.GET)
    audit_record(actor=Actor.for_user(request.user), action=audit_actions.REVIEW_QUEUE_VIEWED,
                 lab=request.lab, resource_type="report", phi_accessed=True, request=request,
                 details={"count": len(page.rows), "total": page.total, "page": page.number})
    return render(request, "jobs/review_queue.html", {
        "reports": page.rows, "page": page,
        "review_url": url_with_id("jobs:report_detail", request.lab.slug)})


def error_summary(forms) -> list[dict]:
    """Every error of the bound forms, for the summary at the top of the page: a field's error
    links to its input (the sign-out checkbox is far down a long page), a form's own error says
    what was refused."""
    summary = []
    for form in forms:
        summary += [{"message": e, "anchor": ""} for e in form.non_field_errors()]
        for name, errors in form.errors.items():
            if name in form.fields and not form.fields[name].widget.is_hidden:
                field = form[name]
                summary += [{"message": e, "anchor": field.id_for_label} for e in errors]
    return summary


def _report_page(request, job, *, status=200, **forms):
    membership = request.membership
    versions = selectors.report_versions(membership, job)
    for version in versions:
        version.draft_downloadable = version.can_download(membership, signed=False)
    if not versions and not membership.is_manager:
        raise Http404("No such report")  # clinicians never learn that a draft exists
    current = versions[0] if versions else None
    selected = selected_variants(job) if membership.is_manager and current else []
    context = {"job": job, "versions": versions, "current": current,
               "error_summary": error_summary(forms.values()),
               "selected": selected, **qc_section(job),
               "review_changed": bool(current and current.status == ReportStatus.PENDING_REVIEW
                                      and membership.is_manager
                                      and review_digest(job, selected) != current.review_digest),
               "sign_form": forms.get("sign_form") or SignOutForm(
                   initial={"draft_sha256": current.draft_sha256 if current else ""}),
               "amend_form": forms.get("amend_form") or AmendForm(
                   initial={"interpretation": current.interpretation if current else ""}),
               "draft_form": forms.get("draft_form") or DraftForm(
                   panels=panel_versions(request.lab),
                   initial={"interpretation": current.interpretation if current else "",
                            "result_summary": current.result_summary if current else "",
                            "panel_version": current.panel_version_id if current else None})}
    return render(request, "jobs/report_detail.html", context, status=status)


@lab_view()
@require_GET
def report_detail(request, job_id):
    job = access_job(request.membership, job_id)
    response = _report_page(request, job)
    audit_record(actor=Actor.for_user(request.user), action=audit_actions.REPORT_VIEWED,
                 lab=request.lab, resource_type="job", resource_id=job.pk,
                 phi_accessed=True, request=request,
                 details={"job": str(job.pk), "sample": str(job.sample_id)})
    return response


def _refused(request, report, form, form_key: str, error: Exception):
    """Back to the report page with the reason the action was refused and nothing changed."""
    if isinstance(error, StorageError):
        error = (f"The report could not be stored, so nothing was changed: {error}. "
                 "Try again in a few minutes.")
    form.add_error(None, error)
    return _report_page(request, report.job, status=400, **{form_key: form})


def _to_report(request, report, message: str):
    messages.success(request, message)
    return redirect("jobs:report_detail", lab_slug=request.lab.slug, job_id=report.job_id)


@lab_view(manager_only=True)
@require_POST
def report_sign(request, job_id, report_id):
    report = access_report(request.membership, job_id, report_id)
    form = SignOutForm(request.POST)
    if not form.is_valid():
        return _report_page(request, report.job, status=400, sign_form=form)
    try:
        services.report_sign_out(
            membership=request.membership, report=report,
            draft_sha256=form.cleaned_data["draft_sha256"], comment=form.cleaned_data["comment"],
            password=form.cleaned_data["password"], code=form.cleaned_data["code"],
            request=request)
    except services.DraftChanged as exc:
        messages.error(request, exc.messages[0])     # the page again, with the new draft
        return redirect("jobs:report_detail", lab_slug=request.lab.slug, job_id=report.job_id)
    except (ValidationError, StorageError) as exc:
        return _refused(request, report, form, "sign_form", exc)
    return _to_report(request, report, f"Report version {report.version} was signed out.")


@lab_view(manager_only=True)
@require_POST
def report_amend(request, job_id, report_id):
    report = access_report(request.membership, job_id, report_id)
    form = AmendForm(request.POST)
    if not form.is_valid():
        return _report_page(request, report.job, status=400, amend_form=form)
    try:
        amendment = services.report_amend(
            membership=request.membership, report=report,
            interpretation=form.cleaned_data["interpretation"],
            reason=form.cleaned_data["reason"], request=request)
    except (ValidationError, StorageError) as exc:
        return _refused(request, report, form, "amend_form", exc)
    return _to_report(request, report, f"Version {amendment.version} was drafted: review its PDF "
                                       f"and sign it out. Version {report.version} stays current "
                                       "until then.")


@lab_view(manager_only=True)
@require_POST
def report_draft(request, job_id, report_id):
    report = access_report(request.membership, job_id, report_id)
    form = DraftForm(request.POST, panels=panel_versions(request.lab))
    if not form.is_valid():
        return _report_page(request, report.job, status=400, draft_form=form)
    try:
        services.report_draft_update(membership=request.membership, report=report,
                                     **form.cleaned_data, request=request)
    except (ValidationError, StorageError) as exc:
        return _refused(request, report, form, "draft_form", exc)
    written = timezone.localtime(report.drafted_at)
    return _to_report(request, report, f"The draft was written again at {written:%H:%M:%S}: "
                                       "read the new PDF before signing.")


@lab_view()
@require_http_methods(["GET", "POST"])
def report_download(request, job_id, report_id, kind):
    """Ask why (PHI export), then send the browser to a presigned GET of the PDF."""
    report = access_report(request.membership, job_id, report_id)
    signed = kind == "signed"
    if not report.can_download(request.membership, signed=signed):
        raise PermissionDenied("Draft reports are for lab managers only.")
    context = {"file_label": f"the {kind} report, version {report.version}",
               "resource": ("report", report.pk, report.job),
               "size": report.signed_size if signed else report.draft_size,
               "sha256": report.signed_sha256 if signed else report.draft_sha256,
               "warning": "This version was superseded by an amendment."
               if report.status == ReportStatus.SUPERSEDED else "",
               "back_url": reverse("jobs:report_detail", args=[request.lab.slug, report.job_id]),
               "back_label": f"Report of {report.job.sample.name}"}
    if request.method == "GET":
        return download_reason_page(request, context)
    try:
        url = downloads.report_download_url(
            membership=request.membership, report=report, signed=signed, request=request,
            reason=request.POST.get("reason", ""), note=request.POST.get("note", ""))
    except (ValidationError, StorageError) as exc:
        return download_reason_page(request, context, error=exc)
    return redirect(url)
