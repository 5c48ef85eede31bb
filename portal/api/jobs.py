"""The API's jobs (list, one job with its live step progress, outputs and report) and the
audited downloads of outputs and signed reports: the pages' own download services
(jobs/results/downloads.py, jobs/reports/downloads.py), so the same checks and audit event."""

from __future__ import annotations

from uuid import UUID

from django.conf import settings
from ninja import Field, Path, Query, Router, Schema

from jobs.reports.access import access_report_by_id
from jobs.reports.downloads import report_download_url
from jobs.results.access import access_job_output
from jobs.results.downloads import REASONS, output_download_url
from jobs.runs.access import access_job
from portal.api import schemas as s
from portal.api.auth import membership_for
from portal.api.errors import ApiError, responses
from portal.api.shapes import job_dict, job_query, paged
from tenants import audit_actions
from tenants.audit import Actor, audit_record

router = Router(tags=["jobs and downloads"])
LAB = Path(..., description="The lab's slug (GET /labs).", max_length=50, example="lab-a")


class JobFilters(Schema):
    sample: UUID | None = Field(None, description="Only this sample's jobs.")
    status: s.JobStatusName | None = None
    page: int = Field(1, ge=1, le=100_000)
    page_size: int = Field(50, ge=1, le=200)


@router.get("/labs/{lab}/jobs", response=responses({200: s.JobPage}), url_name="jobs")
def job_list(request, lab: str = LAB, filters: Query[JobFilters] = None):
    membership = membership_for(request, lab)
    answer = paged(job_query(membership.lab, sample=filters.sample, status=filters.status),
                   filters.page, filters.page_size, lambda job: job_dict(job, membership))
    # no page lists jobs; it names samples' outputs, so it is recorded as patient data read
    audit_record(actor=Actor.for_user(membership.user), action=audit_actions.API_CALLED,
                 lab=membership.lab, resource_type="job", phi_accessed=True, request=request,
                 details={"method": "GET", "path": request.path_info[:300], "status": 200,
                          "count": len(answer["items"]), "total": answer["count"],
                          "sample": str(filters.sample or ""), "job_status": filters.status or ""})
    return answer


@router.get("/labs/{lab}/jobs/{job_id}", response=responses({200: s.JobOut}), url_name="job")
def job_get(request, job_id: UUID, lab: str = LAB):
    """A job with its steps as the progress bar shows them (poll it while it runs)."""
    membership = membership_for(request, lab)
    job = access_job(membership, job_id)
    audit_record(actor=Actor.for_user(membership.user), action=audit_actions.JOB_VIEWED,
                 lab=membership.lab, resource_type="job", resource_id=job.pk, phi_accessed=True,
                 request=request, details={"job": str(job.pk), "sample": str(job.sample_id)})
    return job_dict(job, membership)


def _reason(payload: s.DownloadIn) -> tuple[str, str]:
    """A reason code with its note, or the client's own words as "other" with them as the note."""
    reason, note = payload.reason.strip(), payload.note.strip()
    if not reason:
        raise ApiError(400, "Say why you are exporting this file.", "reason")
    if reason in dict(REASONS):
        if reason == "other" and not note:
            raise ApiError(400, "With reason “other”, say why in `note`.", "note")
        return reason, note
    return "other", f"{reason} {note}".strip()[:500]


def _download(url: str, *, file_name: str, size, sha256: str) -> dict:
    return {"url": url, "expires_in": settings.STORAGE_PRESIGNED_EXPIRY_SECONDS,
            "file_name": file_name, "size": size, "sha256": sha256}


@router.post("/labs/{lab}/jobs/{job_id}/outputs/{output_id}/download",
             response=responses({200: s.DownloadOut}), url_name="output_download")
def output_download(request, job_id: UUID, output_id: UUID, payload: s.DownloadIn,
                    lab: str = LAB):
    """A presigned GET for one output, valid for minutes; audited as a patient-data export with
    the reason, exactly as the page's download."""
    membership = membership_for(request, lab)
    output = access_job_output(membership, job_id, output_id)
    reason, note = _reason(payload)
    url = output_download_url(membership=membership, output=output, reason=reason, note=note,
                              request=request)
    return _download(url, file_name=output.path.rsplit("/", 1)[-1], size=output.size,
                     sha256=output.sha256)


@router.post("/labs/{lab}/reports/{report_id}/download",
             response=responses({200: s.DownloadOut}), url_name="report_download")
def report_download(request, report_id: UUID, payload: s.DownloadIn, lab: str = LAB):
    """A presigned GET for a signed report's PDF (drafts stay on the pages); audited likewise."""
    membership = membership_for(request, lab)
    report = access_report_by_id(membership, report_id)
    reason, note = _reason(payload)
    url = report_download_url(membership=membership, report=report, signed=True, reason=reason,
                              note=note, request=request)
    return _download(url, file_name=report.signed_key.rsplit("/", 1)[-1],
                     size=report.signed_size, sha256=report.signed_sha256)
