"""The API's labs, samples and direct uploads: the same services as the pages
(jobs/intake/services.py, jobs/intake/uploads.py, jobs/runs/services.py), the same audit events."""

from __future__ import annotations

from uuid import UUID

from django.conf import settings
from django.core.exceptions import ValidationError
from ninja import Field, Path, Query, Router, Schema, Status

from jobs.intake import services as intake
from jobs.intake import uploads
from jobs.intake.access import access_file, access_sample
from jobs.intake.forms import DirectUploadForm
from jobs.runs import services as runs
from portal.api import schemas as s
from portal.api.auth import membership_for, require_upload
from portal.api.errors import responses
from portal.api.shapes import (job_dict, paged, parts_list, sample_dict,
                               sample_query)
from tenants import audit_actions
from tenants.audit import Actor, audit_record

router = Router(tags=["samples and uploads"])
LAB = Path(..., description="The lab's slug (GET /labs).", max_length=50, example="lab-a")


class SampleFilters(Schema):
    search: str = Field("", max_length=64, pattern=s.NO_NUL,
                        description="Part of the sample name or identifier.")
    status: s.SampleStatusName | None = None
    page: int = Field(1, ge=1, le=100_000)
    page_size: int = Field(50, ge=1, le=200)


@router.get("/labs", response=responses({200: s.LabList}), url_name="labs")
def labs(request):
    """The lab this token works in (a token belongs to one membership)."""
    membership = request.auth.membership
    return {"items": [{"slug": membership.lab.slug, "name": membership.lab.name,
                       "role": membership.role}]}


@router.get("/labs/{lab}/samples", response=responses({200: s.SamplePage}), url_name="samples")
def sample_list(request, lab: str = LAB, filters: Query[SampleFilters] = None):
    membership = membership_for(request, lab)
    search = filters.search.strip()
    answer = paged(sample_query(membership.lab, search=search, status=filters.status),
                   filters.page, filters.page_size, sample_dict)
    audit_record(actor=Actor.for_user(membership.user), action=audit_actions.SAMPLE_LIST_VIEWED,
                 lab=membership.lab, resource_type="sample", phi_accessed=True, request=request,
                 details={"count": len(answer["items"]), "total": answer["count"],
                          "page": filters.page, "search": search,
                          "status": filters.status or ""})
    return answer


# The form's field names for what the API calls r1 and r2 (DirectUploadForm.errors_by_field).
FORM_FIELDS = {"r1_name": "r1", "r1_size": "r1", "r2_name": "r2", "r2_size": "r2"}


@router.post("/labs/{lab}/samples", response=responses({201: s.SampleCreated}, 409),
             url_name="sample_create")
def sample_create(request, payload: s.SampleIn, lab: str = LAB):
    """Register a sample and its two FASTQ files (names and sizes; the bytes follow through the
    upload calls). Judged by the same rules as the "New sample" form."""
    membership = membership_for(request, lab)
    require_upload(request)
    form = DirectUploadForm({
        "name": payload.name, "external_id": payload.external_id, "sex": payload.sex,
        "clinical_indication": payload.clinical_indication,
        "hpo_terms": ", ".join(payload.hpo_terms), "consent": "on" if payload.consent else "",
        "r1_name": payload.r1.name, "r1_size": payload.r1.size,
        "r2_name": payload.r2.name, "r2_size": payload.r2.size})
    if not form.is_valid():
        raise ValidationError({field: messages for field, messages in
                               form.errors_by_field().items()})
    sample = intake.sample_create(membership=membership, data=form.cleaned_data,
                                  files=form.files_declared(), request=request)
    sample = access_sample(membership, sample.pk)
    answer = sample_dict(sample)
    return Status(201, {"sample": answer, "files": answer["files"]})


@router.get("/labs/{lab}/samples/{sample_id}", response=responses({200: s.SampleOut}),
            url_name="sample")
def sample_get(request, sample_id: UUID, lab: str = LAB):
    membership = membership_for(request, lab)
    sample = access_sample(membership, sample_id)
    audit_record(actor=Actor.for_user(membership.user), action=audit_actions.SAMPLE_VIEWED,
                 lab=membership.lab, resource_type="sample", resource_id=sample.pk,
                 phi_accessed=True, request=request, details={"sample": str(sample.pk)})
    return sample_dict(sample)


@router.post("/labs/{lab}/samples/{sample_id}/submit", response=responses({202: s.JobOut}, 409),
             url_name="sample_submit")
def sample_submit(request, sample_id: UUID, lab: str = LAB):
    """Queue the pipeline for a ready sample (as "Submit for analysis" does)."""
    membership = membership_for(request, lab)
    sample = access_sample(membership, sample_id)
    require_upload(request)
    try:
        job = runs.job_submit(membership=membership, sample=sample, request=request)
    except ValidationError as exc:   # not ready: a state conflict, as for uploads
        raise uploads.UploadConflict(exc.messages) from None
    return Status(202, job_dict(job, membership))


class UploadIn(Schema):
    name: str = Field(max_length=1000, pattern=s.NO_NUL)
    size: int = Field(ge=0, le=2**62)


@router.post("/labs/{lab}/files/{file_id}/upload",
             response=responses({200: s.UploadStarted}, 409), url_name="upload")
def upload_start(request, file_id: UUID, payload: UploadIn, lab: str = LAB):
    """Start the file's multipart upload, or resume the one in progress (with its stored parts)."""
    membership = membership_for(request, lab)
    f = access_file(membership, file_id)
    require_upload(request)
    started = uploads.upload_start(membership=membership, sample_file=f, name=payload.name,
                                   size=payload.size, request=request)
    return {"upload_id": started["upload_id"], "part_size": started["part_size"],
            "part_count": started["part_count"], "parts": parts_list(started["parts"])}


@router.delete("/labs/{lab}/files/{file_id}/upload",
               response=responses({200: s.Cancelled}, 409), url_name="upload_cancel")
def upload_cancel(request, file_id: UUID, lab: str = LAB):
    membership = membership_for(request, lab)
    f = access_file(membership, file_id)
    require_upload(request)
    cancelled = uploads.upload_cancel(membership=membership, sample_file=f, request=request)
    return {"file_status": cancelled.status}


@router.get("/labs/{lab}/files/{file_id}/upload/parts",
            response=responses({200: s.PartList}, 409), url_name="upload_parts")
def upload_parts(request, file_id: UUID, lab: str = LAB):
    """The parts storage holds for the upload in progress (to resume)."""
    membership = membership_for(request, lab)
    f = access_file(membership, file_id)
    return {"parts": parts_list(uploads.upload_parts(sample_file=f))}


@router.post("/labs/{lab}/files/{file_id}/upload/parts/{part_number}",
             response=responses({200: s.SignedPart}, 409), url_name="upload_sign_part")
def upload_sign_part(request, file_id: UUID, lab: str = LAB,
                     part_number: int = Path(..., ge=1, le=10000)):
    """A presigned PUT for one part, signed for exactly its length (`size`)."""
    membership = membership_for(request, lab)
    f = access_file(membership, file_id)
    require_upload(request)
    signed = uploads.upload_sign_part(sample_file=f, part_number=part_number)
    return {"url": signed["url"], "method": "PUT", "size": signed["size"],
            "expires_in": settings.UPLOAD_PART_URL_SECONDS}


@router.post("/labs/{lab}/files/{file_id}/upload/complete",
             response=responses({200: s.Completed}, 409), url_name="upload_complete")
def upload_complete(request, file_id: UUID, payload: s.CompleteIn, lab: str = LAB):
    """Check every part against storage and finish the upload; verification starts once both
    files are in."""
    membership = membership_for(request, lab)
    f = access_file(membership, file_id)
    require_upload(request)
    done = uploads.upload_complete(
        membership=membership, sample_file=f, request=request, sha256=payload.sha256,
        parts=[{"PartNumber": p.part_number, "ETag": p.etag} for p in payload.parts])
    done.sample.refresh_from_db()
    return {"file_status": done.status, "sample_status": done.sample.status}


