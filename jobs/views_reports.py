"""Report pages: the review queue, a job's report versions, sign-out, amendment, PDF downloads."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from jobs import downloads, reports, selectors
from jobs.models import ReportStatus
from jobs.views import download_page
from jobs.access import access_job, access_report
from jobs.report_forms import AmendForm, DraftForm, SignOutForm
from storage.s3 import StorageError
from tenants import actions
from tenants.access import lab_view
from tenants.audit import Actor, audit_record


@lab_view(manager_only=True)
@require_GET
def review_queue(request):
    pending = selectors.reports_pending_review(request.lab)
    audit_record(actor=Actor.for_user(request.user), action=actions.REVIEW_QUEUE_VIEWED,
                 lab=request.lab, resource_type="report", phi_accessed=True, request=request,
                 details={"count": len(pending)})
    return render(request, "jobs/review_queue.html", {"reports": pending})


def _report_page(request, job, *, status=200, **forms):
    membership = request.membership
    versions = reports.visible_reports(membership, job)
    if not versions and not membership.is_manager:
        raise Http404("No such report")  # clinicians never learn that a draft exists
    current = versions[0] if versions else None
    reportable = selectors.reportable_variants(job)
    page_errors = [e for form in forms.values() for e in form.non_field_errors()]
    context = {"job": job, "versions": versions, "current": current, "page_errors": page_errors,
               "variant_summary": reportable[:50] if current else [],
               "reportable_count": reportable.count() if current else 0,
               "sign_form": forms.get("sign_form") or SignOutForm(),
               "amend_form": forms.get("amend_form") or AmendForm(
                   initial={"interpretation": current.interpretation if current else ""}),
               "draft_form": forms.get("draft_form") or DraftForm(
                   initial={"interpretation": current.interpretation if current else ""})}
    return render(request, "jobs/report_detail.html", context, status=status)


@lab_view()
@require_GET
def report_detail(request, job_id):
    job = access_job(request.membership, job_id)
    response = _report_page(request, job)
    audit_record(actor=Actor.for_user(request.user), action=actions.REPORT_VIEWED,
                 lab=request.lab, resource_type="job", resource_id=job.pk,
                 phi_accessed=True, request=request,
                 details={"job": str(job.pk), "sample": str(job.sample_id)})
    return response


def _report_action(request, job_id, report_id, *, form_class, form_key, act, done):
    """A manager's POST on one report version: validate the form, call the service `act`,
    and on success say `done(report, result)`; errors go back to the report page."""
    job = access_job(request.membership, job_id)
    report = access_report(request.membership, job_id, report_id)
    form = form_class(request.POST)
    if form.is_valid():
        try:
            result = act(report, form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        except StorageError as exc:
            form.add_error(None, f"The report could not be stored, so nothing was changed: "
                                 f"{exc}. Try again in a few minutes.")
        else:
            messages.success(request, done(report, result))
            return redirect("jobs:report_detail", lab_slug=request.lab.slug, job_id=job.pk)
    return _report_page(request, job, status=400, **{form_key: form})


@lab_view(manager_only=True)
@require_POST
def report_sign(request, job_id, report_id):
    return _report_action(
        request, job_id, report_id, form_class=SignOutForm, form_key="sign_form",
        act=lambda report, data: reports.report_sign_out(
            membership=request.membership, report=report, comment=data["comment"],
            password=data["password"], code=data["code"], request=request),
        done=lambda report, _: f"Report version {report.version} was signed out.")


@lab_view(manager_only=True)
@require_POST
def report_amend(request, job_id, report_id):
    return _report_action(
        request, job_id, report_id, form_class=AmendForm, form_key="amend_form",
        act=lambda report, data: reports.report_amend(
            membership=request.membership, report=report,
            interpretation=data["interpretation"], reason=data["reason"], request=request),
        done=lambda old, new: f"Version {new.version} was drafted: review its PDF and sign it "
                              f"out. Version {old.version} stays current until then.")


@lab_view(manager_only=True)
@require_POST
def report_draft(request, job_id, report_id):
    return _report_action(
        request, job_id, report_id, form_class=DraftForm, form_key="draft_form",
        act=lambda report, data: reports.report_draft_update(
            membership=request.membership, report=report,
            interpretation=data["interpretation"], request=request),
        done=lambda report, _: "The draft was updated.")


@lab_view()
@require_http_methods(["GET", "POST"])
def report_download(request, job_id, report_id, kind):
    """Ask why (PHI export), then send the browser to a presigned GET of the PDF."""
    report = access_report(request.membership, job_id, report_id)
    signed = kind == "signed"
    if not signed and not request.membership.is_manager:
        raise PermissionDenied("Draft reports are for lab managers only.")
    return download_page(
        request, issue=lambda reason, note: downloads.report_download_url(
            membership=request.membership, report=report, signed=signed, reason=reason,
            note=note, request=request),
        file_label=f"the {kind} report, version {report.version}",
        size=report.signed_size if signed else report.draft_size,
        sha256=report.signed_sha256 if signed else report.draft_sha256,
        warning="This version was superseded by an amendment."
        if report.status == ReportStatus.SUPERSEDED else "",
        back_url=reverse("jobs:report_detail", args=[request.lab.slug, report.job_id]),
        back_label=f"Report of {report.job.sample.name}")
