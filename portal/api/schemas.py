"""The API's request and answer shapes (docs/api.md). Answers are built as plain dicts by
portal/api/shapes.py and checked against these by django-ninja before they leave."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from ninja import Field, Schema

SampleStatusName = Literal["uploading", "verifying", "ready", "submitted", "rejected"]
FileStatusName = Literal["pending", "uploading", "uploaded", "verified", "corrupt", "rejected",
                         "cancelled"]
JobStatusName = Literal["queued", "running", "succeeded", "failed", "cancelled", "archived",
                        "purged"]
SexName = Literal["female", "male", "other", "unknown"]
ReasonCode = Literal["clinical_care", "lab_review", "reanalysis", "other"]
NO_NUL = r"^[^\x00]*$"


class LabOut(Schema):
    slug: str
    name: str
    role: Literal["clinician", "manager"]


class LabList(Schema):
    items: list[LabOut]


class FileOut(Schema):
    id: UUID
    read: Literal[1, 2]
    name: str
    size: int
    status: FileStatusName
    sha256: str | None = Field(description="The verified SHA-256, once verification ran.")
    error: str


class SampleOut(Schema):
    id: UUID
    name: str
    external_id: str
    sex: SexName
    status: SampleStatusName
    stage: str = Field(description="Where the sample is, in words (as on its page).")
    reason: str = Field(description="Why the sample was rejected, if it was.")
    created_at: datetime
    files: list[FileOut]
    job_ids: list[UUID]


class SamplePage(Schema):
    count: int
    page: int
    page_size: int
    items: list[SampleOut]


class FileDeclared(Schema):
    name: str = Field(max_length=1000, pattern=NO_NUL)
    size: int = Field(ge=0, le=2**62)


class SampleIn(Schema):
    name: str = Field(max_length=200, pattern=NO_NUL)
    external_id: str = Field(max_length=200, pattern=NO_NUL)
    sex: SexName
    clinical_indication: str = Field(max_length=4000, pattern=NO_NUL)
    hpo_terms: list[str] = Field(default_factory=list, max_length=200)
    consent: bool = Field(description="Consent for genomic testing is documented (must be true).")
    r1: FileDeclared
    r2: FileDeclared


class SampleCreated(Schema):
    sample: SampleOut
    files: list[FileOut]


class PartOut(Schema):
    part_number: int
    size: int
    etag: str


class UploadStarted(Schema):
    upload_id: str
    part_size: int
    part_count: int
    parts: list[PartOut]


class PartList(Schema):
    parts: list[PartOut]


class SignedPart(Schema):
    url: str
    method: Literal["PUT"]
    size: int
    expires_in: int


class PartSent(Schema):
    part_number: int = Field(ge=1, le=10000)
    etag: str = Field(max_length=100, pattern=NO_NUL)


class CompleteIn(Schema):
    parts: list[PartSent] = Field(max_length=10000)
    sha256: str = Field(description="SHA-256 of the whole file, 64 hex characters.",
                        max_length=200, pattern=NO_NUL)


class Completed(Schema):
    file_status: FileStatusName
    sample_status: SampleStatusName


class Cancelled(Schema):
    file_status: FileStatusName


class StepOut(Schema):
    name: str
    status: str
    started_at: datetime | None = Field(
        description="When the step's first attempt began (UTC); null before it starts, and for "
                    "runs recorded before step times were.")
    finished_at: datetime | None = Field(
        description="When the step's last attempt ended (UTC); null while it runs, and for a "
                    "step stopped in flight.")
    duration_s: float | None
    exit_code: int | None


class OutputOut(Schema):
    id: UUID
    name: str
    kind: str = Field(description="Where it is kept: results, intermediate or logs.")
    size: int
    sha256: str


class ReportRef(Schema):
    id: UUID
    status: Literal["pending_review", "signed_out", "superseded"]
    version: int
    sha256: str | None = Field(description="SHA-256 of the signed PDF; null before sign-out.")


class JobOut(Schema):
    id: UUID
    sample_id: UUID
    status: JobStatusName
    qc_verdict: Literal["pass", "warn", "fail"] | None
    created_at: datetime
    finished_at: datetime | None
    error: str
    steps: list[StepOut]
    outputs: list[OutputOut]
    report: ReportRef | None


class JobPage(Schema):
    count: int
    page: int
    page_size: int
    items: list[JobOut]


class DownloadIn(Schema):
    reason: str = Field(min_length=1, max_length=500, pattern=NO_NUL,
                        description="Why the file is exported (kept in the audit log): one of "
                                    "clinical_care, lab_review, reanalysis, other, or words of "
                                    "your own (recorded as other with your words).")
    note: str = Field(default="", max_length=500, pattern=NO_NUL,
                      description="Details; required with reason=other.")


class DownloadOut(Schema):
    url: str
    expires_in: int
    file_name: str
    size: int | None
    sha256: str
