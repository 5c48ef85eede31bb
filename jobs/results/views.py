"""What came of a sample: its page (timeline, QC, files), the analysis page (progress, outputs, QC),
and the audited download of an output file. The variant table is a review page (jobs.review)."""

import json
import logging

from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods
from django.views.decorators.vary import vary_on_headers

from jobs.intake import selectors
from jobs.intake.access import access_sample
from jobs.intake.views import UPLOADABLE, file_json
from jobs.models import JobStatus
from jobs.results import downloads
from jobs.results.access import access_job_output
from jobs.results.qc import qc_section
from jobs.runs.access import access_job
from storage.s3 import StorageError
from tenants import audit_actions
from tenants.access import lab_view
from tenants.audit import Actor, audit_record

log = logging.getLogger(__name__)
STORAGE_DOWN = ("The file store is not answering, so no download link was made and nothing was "
                "recorded as downloaded. Try again in a few minutes; if it keeps happening, tell "
                "your lab's administrator.")


def _sample_live(request, sample) -> dict:
    """What the sample page re-reads while the sample changes: status, analyses, timeline, QC."""
    files = list(sample.files.all())
    return {"sample": sample, "files": files,
            "jobs": list(sample.jobs.select_related("submitted_by")),
            "can_reanalyse": sample.can_reanalyse(request.membership),
            "timeline": selectors.sample_timeline(sample), **qc_section(sample.latest_job)}


@lab_view()
@require_GET
@never_cache
@vary_on_headers("HX-Request")  # the status card's polling gets its parts of the same URL
def sample_detail(request, sample_id):
    sample = access_sample(request.membership, sample_id)
    context = _sample_live(request, sample)
    if request.htmx:  # polling while the sample changes: the page's live parts, not audited
        return render(request, "jobs/_sample_poll.html", context)
    audit_record(actor=Actor.for_user(request.user), action=audit_actions.SAMPLE_VIEWED,
                 lab=request.lab, resource_type="sample", resource_id=sample.pk,
                 phi_accessed=True, request=request, details={"sample": str(sample.pk)})
    to_upload = [f for f in context["files"] if f.status in UPLOADABLE]
    return render(request, "jobs/sample_detail.html", {
        **context, "files_to_upload": to_upload,
        "files_json": json.dumps([file_json(request.lab.slug, f) for f in to_upload]),
        "history": selectors.sample_history(sample),
    })


@lab_view()
@require_GET
@never_cache
@vary_on_headers("HX-Request")  # progress polling gets a block of the same URL
def job_detail(request, job_id):
    job = access_job(request.membership, job_id)
    membership = request.membership
    context = {"job": job, "outputs": list(job.outputs.all()),
               "can_download": job.can_download(membership),
               "released": job.results_released(), **qc_section(job),
               "has_report": job.reports.exists(),
               "can_cancel": job.can_cancel(membership), "can_retry": job.can_retry(membership)}
    if request.htmx:  # progress polling: states and step times only
        response = render(request, "jobs/_job_progress.html", context)
        if job.status not in (JobStatus.QUEUED, JobStatus.RUNNING):
            response["HX-Refresh"] = "true"  # the run ended: the whole page has more to show
        return response
    audit_record(actor=Actor.for_user(request.user), action=audit_actions.JOB_VIEWED,
                 lab=request.lab, resource_type="job", resource_id=job.pk, phi_accessed=True,
                 request=request, details={"job": str(job.pk), "sample": str(job.sample_id)})
    return render(request, "jobs/job_detail.html", context)


@lab_view()
@require_http_methods(["GET", "POST"])
def output_download(request, job_id, output_id):
    """Ask why (PHI export), then send the browser to a presigned GET for this one file."""
    output = access_job_output(request.membership, job_id, output_id)
    job = output.job
    if not job.can_download(request.membership):
        raise PermissionDenied("Results can be downloaded once a lab manager has signed the "
                               "report out.")
    context = {"file_label": output.path, "size": output.size, "sha256": output.sha256,
               "resource": ("job_output", output.pk, job),
               "back_url": reverse("jobs:job_detail", args=[request.lab.slug, job.pk]),
               "back_label": f"Analysis of {job.sample.name}"}
    if request.method == "GET":
        return download_reason_page(request, context)
    try:
        url = downloads.output_download_url(
            membership=request.membership, output=output, request=request,
            reason=request.POST.get("reason", ""), note=request.POST.get("note", ""))
    except (ValidationError, StorageError) as exc:
        return download_reason_page(request, context, error=exc)
    return redirect(url)


def download_reason_page(request, context: dict, *, error: Exception | None = None):
    """The reason form of a PHI export (every download asks why), again with the error when the
    URL could not be issued. Showing it is audited: it names the sample and the file.
    `context["resource"]`: (resource type, id, job)."""
    resource_type, resource_id, job = context["resource"]
    if error is None:
        audit_record(actor=Actor.for_user(request.user), action=audit_actions.DOWNLOAD_PAGE_VIEWED,
                     lab=request.lab, resource_type=resource_type, resource_id=resource_id,
                     phi_accessed=True, request=request,
                     details={"job": str(job.pk), "sample": str(job.sample_id)})
    context = {**context, "reasons": downloads.REASONS}
    if isinstance(error, ValidationError):
        context["error"] = " ".join(error.messages)
    elif error is not None:
        # The server, bucket and key are for the operators' log; the member learns what it means.
        log.warning("No download link issued: storage is unavailable: %s", error)
        context["error"] = STORAGE_DOWN
    return render(request, "jobs/download.html", context, status=400 if error else 200)
