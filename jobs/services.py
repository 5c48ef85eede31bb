"""Writes for sample intake: create a sample, run its two direct-to-S3 uploads, verify the pair.

Bytes never pass through Django on the direct path: the portal starts the S3 multipart upload at a
key from storage.keys, signs parts for members of the sample's lab only, and completes the upload
after checking every part against what S3 holds. Every step is audited with the lab and actor.
"""

from __future__ import annotations

import logging
import re
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import storages
from django.db import IntegrityError, transaction
from django.utils import timezone

from jobs.models import FileStatus, Sample, SampleFile, SampleStatus
from portal.db import for_update
from storage import keys, ledger, s3
from storage.checksums import sha256_chunks
from storage.buckets import bucket_name
from tenants import actions
from tenants.audit import SYSTEM, Actor, audit_record

log = logging.getLogger(__name__)

MIB = 1024 * 1024
TARGET_PART_COUNT = 1000         # S3 allows 10,000; fewer, larger parts mean fewer signatures
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
ABANDONED_UPLOAD_AGE = timedelta(days=1)
STALE_VERIFICATION_AGE = timedelta(minutes=15)


class UploadConflict(ValidationError):
    """The request does not fit the file's current state (already completed, cancelled, ...)."""


def choose_part_size(size: int) -> int:
    """At least WES_UPLOAD_MIN_PART_BYTES (16 MiB: measured 0.82 -> 0.90 of raw boto3's
    throughput against 8 MiB, from half the signing round trips), at most ~1,000 parts."""
    wanted = max(settings.UPLOAD_MIN_PART_BYTES, -(-size // TARGET_PART_COUNT))
    return -(-wanted // MIB) * MIB


def display_name(name: str) -> str:
    return name[:255]


# --- creating a sample ---

def sample_create(*, membership, data: dict, files: dict[int, tuple[str, int]],
                  job_id: uuid.UUID | None = None, request=None) -> Sample:
    """A new sample in the member's lab, waiting for its two FASTQ files."""
    lab = membership.lab
    sample = Sample(lab=lab, name=data["name"], external_id=data["external_id"], sex=data["sex"],
                    clinical_indication=data["clinical_indication"],
                    hpo_terms=data.get("hpo_terms") or [], consent_confirmed_at=timezone.now(),
                    created_by=membership.user, job_id=job_id or uuid.uuid4())
    try:
        with transaction.atomic():
            sample.save()
            for read, (name, size) in sorted(files.items()):
                SampleFile.objects.create(
                    lab=lab, sample=sample, read=read, original_name=display_name(name),
                    size=size, key=keys.raw_fastq_key(lab, sample.job_id, sample.name, read))
            audit_record(actor=Actor.for_user(membership.user), action=actions.SAMPLE_CREATED,
                         lab=lab, resource_type="sample", resource_id=sample.pk, request=request,
                         details={"sample": str(sample.pk), "name": sample.name,
                                  "job_id": str(sample.job_id),
                                  "files": {f"R{r}": {"name": n, "size": s}
                                            for r, (n, s) in files.items()}})
    except IntegrityError:
        raise ValidationError({"name": f"{lab.name} already has a sample named {sample.name}."})
    return sample


def samples_create_from_sheet(*, membership, rows, request=None) -> list[Sample]:
    """All the sheet's samples, or none (one transaction)."""
    with transaction.atomic():
        return [sample_create(membership=membership, data=row.data, files=row.files,
                              request=request) for row in rows]


def sample_name_taken(lab, name: str) -> bool:
    return lab.samples.filter(name=name).exclude(status=SampleStatus.REJECTED).exists()


# --- the direct (JavaScript) upload, one file at a time ---

def _locked(sample_file: SampleFile) -> SampleFile:
    return for_update(SampleFile.objects).select_related("sample", "lab").get(
        pk=sample_file.pk)


def upload_start(*, membership, sample_file: SampleFile, name: str, size: int,
                 request=None) -> dict:
    """Start the file's multipart upload, or hand back the one in progress with its stored parts
    (so a reloaded page or a dropped network resumes instead of starting over)."""
    raw = bucket_name("raw")
    with transaction.atomic():
        f = _locked(sample_file)
        if f.sample.status != SampleStatus.UPLOADING:
            raise UploadConflict(f"This sample is {f.sample.get_status_display().lower()}; "
                                 "it takes no more uploads.")
        if f.status not in (FileStatus.PENDING, FileStatus.UPLOADING, FileStatus.CANCELLED):
            raise UploadConflict(f"{f.label} is already {f.get_status_display().lower()}.")
        if (name, size) != (f.original_name, f.size):
            raise ValidationError(f"This is not the file you started uploading as {f.label}: "
                                  f"expected {f.original_name} ({f.size:,} bytes), got {name} "
                                  f"({size:,} bytes).")
        parts: list[dict] = []
        if f.status == FileStatus.UPLOADING and f.multipart_upload_id:
            try:
                parts = s3.list_uploaded_parts(raw, f.key, f.multipart_upload_id)
                action = actions.UPLOAD_RESUMED
            except s3.StorageError as exc:
                if exc.code != "NoSuchUpload":
                    raise
                f.multipart_upload_id = ""  # cleaned up behind our back: start again
        if not f.multipart_upload_id or f.status != FileStatus.UPLOADING:
            f.part_size = choose_part_size(f.size)
            f.multipart_upload_id = s3.start_multipart_upload(raw, f.key)
            f.status = FileStatus.UPLOADING
            f.upload_started_at = timezone.now()
            f.error = ""
            f.save()
            action = actions.UPLOAD_STARTED
        _audit_file(membership.user, action, f, request, parts_stored=len(parts))
    return {"upload_id": f.multipart_upload_id, "key": str(f.pk), "part_size": f.part_size,
            "part_count": f.part_count, "parts": parts}


def upload_sign_part(*, sample_file: SampleFile, part_number: int) -> str:
    """A short-lived URL for one part of this file's upload, and nothing else."""
    f = sample_file
    if f.status != FileStatus.UPLOADING or not f.multipart_upload_id:
        raise UploadConflict(f"{f.label} has no upload in progress.")
    if not 1 <= part_number <= f.part_count:
        raise ValidationError(f"Part {part_number} is out of range: {f.label} has parts 1 to "
                              f"{f.part_count}.")
    return s3.presign_upload_part(bucket_name("raw"), f.key, f.multipart_upload_id, part_number,
                                  settings.UPLOAD_PART_URL_SECONDS)


def upload_parts(*, sample_file: SampleFile) -> list[dict]:
    f = sample_file
    if f.status != FileStatus.UPLOADING or not f.multipart_upload_id:
        raise UploadConflict(f"{f.label} has no upload in progress.")
    return s3.list_uploaded_parts(bucket_name("raw"), f.key, f.multipart_upload_id)


def _expected_part_sizes(f: SampleFile) -> dict[int, int]:
    count = f.part_count
    sizes = {n: f.part_size for n in range(1, count)}
    sizes[count] = f.size - f.part_size * (count - 1)
    return sizes


def _check_parts(f: SampleFile, stored: list[dict], sent: list[dict]) -> list[dict]:
    by_number = {p["PartNumber"]: p for p in stored}
    expected = _expected_part_sizes(f)
    missing = sorted(set(expected) - set(by_number))
    if missing:
        shown = ", ".join(str(n) for n in missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise ValidationError(f"{f.label} is incomplete: part(s) {shown} of {f.part_count} have "
                              "not reached storage. Resume the upload.")
    for number, size in expected.items():
        if by_number[number]["Size"] != size:
            raise ValidationError(f"Part {number} of {f.label} is {by_number[number]['Size']:,} "
                                  f"bytes in storage; expected {size:,}. Upload the file again.")
    sent_etags = {p.get("PartNumber"): str(p.get("ETag", "")).strip('"') for p in sent}
    for number in expected:
        if sent_etags.get(number) != by_number[number]["ETag"].strip('"'):
            raise ValidationError(f"Part {number} of {f.label} in storage is not the part your "
                                  "browser sent. Upload the file again.")
    return [by_number[n] for n in sorted(expected)]


def upload_complete(*, membership, sample_file: SampleFile, parts: list[dict], sha256: str,
                    request=None) -> SampleFile:
    """Finish the upload after checking every part against S3; the pair goes to verification
    once both files are in."""
    sha256 = (sha256 or "").lower()
    if not SHA256_HEX.match(sha256):
        raise ValidationError("The file's SHA-256 must be 64 hexadecimal characters.")
    raw = bucket_name("raw")
    with transaction.atomic():
        f = _locked(sample_file)
        if f.status != FileStatus.UPLOADING or not f.multipart_upload_id:
            raise UploadConflict(f"{f.label} has no upload in progress (it is "
                                 f"{f.get_status_display().lower()}).")
        stored = s3.list_uploaded_parts(raw, f.key, f.multipart_upload_id)
        ordered = _check_parts(f, stored, parts)
        s3.complete_multipart_upload(raw, f.key, f.multipart_upload_id, ordered)
        size_in_storage = s3.object_size(raw, f.key)
        if size_in_storage is not None:  # the object exists, whatever its verdict
            ledger.record_put(bucket=raw, key=f.key, size=size_in_storage, lab=f.lab,
                              job_id=f.sample.job_id)
        if size_in_storage != f.size:
            f.status, f.error = FileStatus.CORRUPT, (
                f"{f.label} is {size_in_storage or 0:,} bytes in storage; expected {f.size:,}.")
        else:
            f.status = FileStatus.UPLOADED
        f.client_sha256 = sha256
        f.multipart_upload_id = ""
        f.uploaded_at = timezone.now()
        f.save()
        _audit_file(membership.user, actions.UPLOAD_COMPLETED, f, request, sha256=sha256,
                    stored_bytes=size_in_storage)
        _start_verification_when_both_uploaded(f.sample)
    return f


def upload_cancel(*, membership, sample_file: SampleFile, request=None) -> SampleFile:
    with transaction.atomic():
        f = _locked(sample_file)
        if f.status != FileStatus.UPLOADING:
            raise UploadConflict(f"{f.label} has no upload in progress.")
        if f.multipart_upload_id:
            s3.abort_multipart_upload(bucket_name("raw"), f.key, f.multipart_upload_id)
        f.status, f.multipart_upload_id = FileStatus.CANCELLED, ""
        f.save()
        _audit_file(membership.user, actions.UPLOAD_CANCELLED, f, request)
    return f


def _audit_file(user, action: str, f: SampleFile, request, **extra) -> None:
    audit_record(actor=Actor.for_user(user) if user else SYSTEM, action=action, lab=f.lab,
                 resource_type="sample_file", resource_id=f.pk, request=request,
                 details={"sample": str(f.sample_id), "read": f.label, "size": f.size, **extra})


def _start_verification_when_both_uploaded(sample: Sample) -> None:
    sample = for_update(Sample.objects).get(pk=sample.pk)
    statuses = set(sample.files.values_list("status", flat=True))
    if sample.status == SampleStatus.UPLOADING and statuses == {FileStatus.UPLOADED}:
        sample.status = SampleStatus.VERIFYING
        sample.save(update_fields=["status", "updated_at"])
        transaction.on_commit(lambda: enqueue_verification(sample.pk))
    elif sample.status == SampleStatus.UPLOADING and FileStatus.CORRUPT in statuses:
        corrupt = sample.files.filter(status=FileStatus.CORRUPT).first()
        _reject(sample, corrupt.error, actor=SYSTEM)


def enqueue_verification(sample_id) -> None:
    from django_q.tasks import async_task

    async_task("jobs.tasks.verify_sample", str(sample_id), task_name=f"verify-{sample_id}")


# --- the plain (no JavaScript) upload ---

def sample_create_from_plain_upload(*, membership, data: dict, uploads: dict, request=None
                                    ) -> Sample:
    """Stream the two uploaded temporary files to storage, then record the sample.

    Objects are written first, under a fresh job id: if storage fails nothing is recorded and the
    clinician sees why; if recording fails the orphan objects expire with the raw bucket's rule.
    """
    lab = membership.lab
    if sample_name_taken(lab, data["name"]):
        raise ValidationError({"name": f"{lab.name} already has a sample named {data['name']}."})
    job_id = uuid.uuid4()
    raw_storage = storages["raw"]
    digests = {}
    for read, upload in sorted(uploads.items()):
        key = keys.raw_fastq_key(lab, job_id, data["name"], read)
        digests[read] = _sha256_of(upload)
        upload.seek(0)
        with s3.translated_errors(f"store R{read}"):
            stored_as = raw_storage.save(key, upload)
        if stored_as != key:  # django-storages renames rather than overwrite; keys are unique
            raise ValidationError(f"R{read} could not be stored under its own key.")
    files = {read: (upload.name, upload.size) for read, upload in uploads.items()}
    with transaction.atomic():
        sample = sample_create(membership=membership, data=data, files=files, job_id=job_id,
                               request=request)
        for f in sample.files.all():
            size_in_storage = s3.object_size(bucket_name("raw"), f.key)
            if size_in_storage is not None:
                ledger.record_put(bucket=bucket_name("raw"), key=f.key, size=size_in_storage,
                                  lab=lab, job_id=job_id)
            f.client_sha256 = digests[f.read]
            f.uploaded_at = timezone.now()
            if size_in_storage == f.size:
                f.status = FileStatus.UPLOADED
            else:
                f.status = FileStatus.CORRUPT
                f.error = (f"{f.label} is {size_in_storage or 0:,} bytes in storage; "
                           f"expected {f.size:,}.")
            f.save()
            _audit_file(membership.user, actions.UPLOAD_COMPLETED, f, request,
                        sha256=f.client_sha256, path="form")
        _start_verification_when_both_uploaded(sample)
    return sample


def _sha256_of(upload) -> str:
    upload.seek(0)
    return sha256_chunks(upload.chunks(8 * MIB))


# --- verification (run by the worker) ---

def sample_verify(*, sample_id) -> Sample | None:
    """Re-read both objects from storage: checksum, gzip, FASTQ structure and pairing.

    Safe to run twice: only a sample still "verifying" is looked at, and its result is written
    only if nobody else wrote one meanwhile.
    """
    from jobs.fastq import Limits, validate_pair

    sample = Sample.objects.filter(pk=sample_id, status=SampleStatus.VERIFYING).first()
    if sample is None:
        return None
    f1, f2 = sample.file(1), sample.file(2)
    raw = bucket_name("raw")
    streams = {"R1": f1.key, "R2": f2.key}

    def reopen(which: str):
        return s3.open_object(raw, streams[which])

    limits = Limits(max_compression_ratio=float(settings.FASTQ_MAX_COMPRESSION_RATIO))
    r1, r2 = reopen("R1"), reopen("R2")
    try:
        report = validate_pair(r1, r2, limits=limits, reopen=reopen)
    finally:
        r1.close()
        r2.close()

    with transaction.atomic():
        sample = for_update(Sample.objects).get(pk=sample_id)
        if sample.status != SampleStatus.VERIFYING:
            return sample
        problem = report.reason if not report.ok else ""
        for f, stats in ((f1, report.r1), (f2, report.r2)):
            _store_stats(f, stats)
            if report.ok and stats.sha256 != f.client_sha256:
                f.status = FileStatus.CORRUPT
                f.error = (f"{f.label}'s SHA-256 in storage ({stats.sha256[:12]}...) differs from "
                           f"the one computed when it was read for upload "
                           f"({f.client_sha256[:12]}...): the file was damaged in transit or "
                           "changed while uploading.")
                problem = problem or f.error
            elif report.ok:
                f.status, f.sha256, f.verified_at = FileStatus.VERIFIED, stats.sha256, timezone.now()
            elif report.problem_file in (f.label, "pair"):
                f.status, f.error = FileStatus.REJECTED, report.reason
            f.save()
        problem = problem or _same_reads_elsewhere(sample, [f1, f2])
        if problem:
            _reject(sample, problem, actor=SYSTEM)
        else:
            sample.status = SampleStatus.READY
            sample.save(update_fields=["status", "updated_at"])
            audit_record(actor=SYSTEM, action=actions.SAMPLE_VERIFIED, lab=sample.lab,
                         resource_type="sample", resource_id=sample.pk,
                         details={"sample": str(sample.pk), "R1_sha256": f1.sha256,
                                  "R2_sha256": f2.sha256, "reads": f1.read_count})
            transaction.on_commit(lambda: _tag_verified(raw, [f1, f2]))
    return sample


def _same_reads_elsewhere(sample: Sample, files: list[SampleFile]) -> str:
    """A FASTQ byte-identical to one of another live sample of the lab is a mix-up (the same
    sequencing run cannot be two patients); a re-analysis is a new job of the same sample."""
    for f in files:
        other = (SampleFile.objects.filter(lab=sample.lab, sha256=f.sha256)
                 .exclude(sample=sample).exclude(sample__status=SampleStatus.REJECTED)
                 .select_related("sample").first())
        if f.sha256 and other:
            return (f"{f.label} is byte-identical to {other.label} of sample {other.sample.name} "
                    f"(SHA-256 {f.sha256[:12]}...): the same reads cannot belong to two samples. "
                    f"To analyse {other.sample.name} again, submit that sample again.")
    return ""


def _store_stats(f: SampleFile, stats) -> None:
    if stats is None:
        return
    f.read_count, f.base_count = stats.read_count, stats.base_count
    f.min_length, f.max_length = stats.min_length, stats.max_length
    f.mean_length, f.q30_fraction = stats.mean_length, stats.q30_fraction
    f.uncompressed_bytes = stats.uncompressed_bytes


def _tag_verified(raw: str, files: list[SampleFile]) -> None:
    # S3 user metadata is fixed when an object is written; re-copying a 10 GB object to add the
    # digest would double its I/O, so the verified digest goes on the object as tags.
    for f in files:
        try:
            s3.set_object_tags(raw, f.key, {"sha256": f.sha256, "verified": "true",
                                            "sample": str(f.sample_id)})
        except s3.StorageError:
            log.warning("could not tag %s with its digest", f.key, exc_info=True)


def _reject(sample: Sample, reason: str, *, actor) -> None:
    sample.status, sample.rejection_reason = SampleStatus.REJECTED, reason
    sample.save(update_fields=["status", "rejection_reason", "updated_at"])
    audit_record(actor=actor, action=actions.SAMPLE_REJECTED, lab=sample.lab,
                 resource_type="sample", resource_id=sample.pk,
                 details={"sample": str(sample.pk), "reason": reason,
                          "digests": {f.label: f.client_sha256 for f in sample.files.all()}})


# --- housekeeping (scheduled) ---

def intake_sweep(*, now=None) -> dict:
    """Abort multipart uploads left unfinished for a day, and re-queue verifications that a dead
    worker or an unreachable storage server left hanging."""
    now = now or timezone.now()
    raw = bucket_name("raw")
    aborted = 0
    for upload in s3.list_unfinished_uploads(raw):
        if now - upload["Initiated"] < ABANDONED_UPLOAD_AGE:
            continue
        s3.abort_multipart_upload(raw, upload["Key"], upload["UploadId"])
        aborted += 1
        with transaction.atomic():
            for f in for_update(SampleFile.objects).filter(
                    multipart_upload_id=upload["UploadId"], status=FileStatus.UPLOADING):
                f.status, f.multipart_upload_id = FileStatus.CANCELLED, ""
                f.error = "The upload was left unfinished for a day and was cleaned up."
                f.save()
                _audit_file(None, actions.UPLOAD_ABANDONED, f, None)
    stale = list(Sample.objects.filter(status=SampleStatus.VERIFYING,
                                       updated_at__lt=now - STALE_VERIFICATION_AGE)
                 .values_list("pk", flat=True))
    for sample_id in stale:
        enqueue_verification(sample_id)
    return {"aborted_uploads": aborted, "requeued_verifications": len(stale)}
