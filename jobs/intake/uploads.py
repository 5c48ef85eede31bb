"""The direct (JavaScript) upload of one FASTQ, straight to S3.

Bytes never pass through Django on this path: the portal starts the S3 multipart upload at a key
from storage.keys, signs parts for members of the sample's lab only, and completes the upload
after checking every part against what S3 holds. Every step is audited with the lab and actor.
The daily sweep aborts uploads left unfinished.
"""

from __future__ import annotations

import re
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from common.db import for_update
from jobs.intake.services import audit_file
from jobs.intake.verification import (start_verification_when_both_uploaded,
                                      verifications_resume)
from jobs.models import FileStatus, SampleFile, SampleStatus
from storage import ledger, metric_records, multipart, s3
from storage.buckets import bucket_name
from tenants import audit_actions


MIB = 1024 * 1024
TARGET_PART_COUNT = 1000         # S3 allows 10,000; fewer, larger parts mean fewer signatures
S3_MIN_PART_BYTES = 5 * MIB      # every part but the last
UPLOAD_CONCURRENCY = 6           # parts the browser sends at once (frontend/src/uploader.js)
PARTS_FOR_SMALL_FILES = 4 * UPLOAD_CONCURRENCY
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
ABANDONED_UPLOAD_AGE = timedelta(days=1)
ENDED = "The upload was stopped and its parts removed from storage; upload the file again."


class UploadConflict(ValidationError):
    """The request does not fit the file's current state (already completed, cancelled, ...)."""


class UploadRefused(ValidationError):
    """What storage holds for the upload is not the file declared: the upload has been ended."""


def choose_part_size(size: int) -> int:
    """A reload (or a dropped connection the retries do not survive) loses only the parts in
    flight, at most UPLOAD_CONCURRENCY of them: the bound is UPLOAD_CONCURRENCY x part size.

    Large files get WES_UPLOAD_MIN_PART_BYTES (16 MiB: measured 0.82 -> 0.90 of raw boto3's
    throughput against 8 MiB, from half the signing round trips), so at most 96 MiB; files over
    ~15.6 GiB get 1/1,000 of their size (S3's 10,000-part cap with room), so at most 0.6% of the
    file. Files under 384 MiB get size / PARTS_FOR_SMALL_FILES (at least S3's 5 MiB), so parts
    finish early and a reload loses at most a quarter of the file (or 30 MiB)."""
    for_throughput = max(settings.UPLOAD_MIN_PART_BYTES, -(-size // TARGET_PART_COUNT))
    for_reload = max(S3_MIN_PART_BYTES, -(-size // PARTS_FOR_SMALL_FILES))
    wanted = min(for_throughput, for_reload)
    return -(-wanted // MIB) * MIB


def reload_loss_bound(part_size: int) -> int:
    """The most bytes a reload can make the browser send again."""
    return UPLOAD_CONCURRENCY * part_size


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
                parts = _whole_parts(f, multipart.list_uploaded_parts(raw, f.key, f.multipart_upload_id))
                action = audit_actions.UPLOAD_RESUMED
            except s3.StorageError as exc:
                if exc.code != "NoSuchUpload":
                    raise
                f.multipart_upload_id = ""  # cleaned up behind our back: start again
        if not f.multipart_upload_id or f.status != FileStatus.UPLOADING:
            f.part_size = choose_part_size(f.size)
            f.multipart_upload_id = multipart.start_multipart_upload(raw, f.key)
            # Counted from the start: every part URL is signed with its length, so the parts
            # can never hold more than the declared size (closed when the upload ends).
            ledger.record_put(bucket=raw, key=f.key, size=f.size, lab=f.lab,
                              job_id=f.sample.job_id)
            f.status = FileStatus.UPLOADING
            f.upload_started_at = timezone.now()
            f.error = ""
            f.save()
            action = audit_actions.UPLOAD_STARTED
        audit_file(membership.user, action, f, request, parts_stored=len(parts))
    return {"upload_id": f.multipart_upload_id, "key": str(f.pk), "part_size": f.part_size,
            "part_count": f.part_count, "parts": parts}


def part_length(f: SampleFile, part_number: int) -> int:
    """Every part is `part_size` bytes but the last, which holds the rest of the file."""
    if part_number < f.part_count:
        return f.part_size
    return f.size - f.part_size * (f.part_count - 1)


def upload_sign_part(*, sample_file: SampleFile, part_number: int) -> dict:
    """A short-lived URL for one part of this file's upload, and nothing else: its signature
    covers the part's length, so storage refuses a body of any other size."""
    f = sample_file
    if f.status != FileStatus.UPLOADING or not f.multipart_upload_id:
        raise UploadConflict(f"{f.label} has no upload in progress.")
    if not 1 <= part_number <= f.part_count:
        raise ValidationError(f"Part {part_number} is out of range: {f.label} has parts 1 to "
                              f"{f.part_count}.")
    size = part_length(f, part_number)
    url = multipart.presign_upload_part(bucket_name("raw"), f.key, f.multipart_upload_id, part_number,
                                 content_length=size,
                                 expires_in=settings.UPLOAD_PART_URL_SECONDS)
    return {"url": url, "size": size}


def upload_parts(*, sample_file: SampleFile) -> list[dict]:
    f = sample_file
    if f.status != FileStatus.UPLOADING or not f.multipart_upload_id:
        raise UploadConflict(f"{f.label} has no upload in progress.")
    return _whole_parts(f, multipart.list_uploaded_parts(bucket_name("raw"), f.key,
                                                  f.multipart_upload_id))


def _whole_parts(f: SampleFile, listed: list[dict]) -> list[dict]:
    """The stored parts a resuming client may skip, one per part number: a part of its exact
    length. A part listed while its PUT is still being written (a reload races the write) or cut
    short shows another size; offered as done, the client would complete with it and be
    refused, so it is left out and sent again. SeaweedFS lists every upload of a part number
    (newest first) where S3 keeps the last; the first whole one is offered."""
    expected = _expected_part_sizes(f)
    offered: dict[int, dict] = {}
    for part in listed:
        if expected.get(part["PartNumber"]) == part["Size"]:
            offered.setdefault(part["PartNumber"], part)
    return [offered[n] for n in sorted(offered)]


def _expected_part_sizes(f: SampleFile) -> dict[int, int]:
    return {n: part_length(f, n) for n in range(1, f.part_count + 1)}


def _check_parts(f: SampleFile, stored: list[dict], sent: list[dict]) -> list[dict]:
    """The stored parts the client declared, in order, each of its exact length; refused
    otherwise. A part number may be listed more than once (SeaweedFS keeps every upload of it
    until completion); the declared ETag says which one is meant, as it does for the server."""
    listed: dict[int, list[dict]] = {}
    for part in stored:
        listed.setdefault(part["PartNumber"], []).append(part)
    expected = _expected_part_sizes(f)
    missing = sorted(set(expected) - set(listed))
    if missing:
        shown = ", ".join(str(n) for n in missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise ValidationError(f"{f.label} is incomplete: part(s) {shown} of {f.part_count} have "
                              "not reached storage. Resume the upload.")
    sent_etags = {p.get("PartNumber"): str(p.get("ETag", "")).strip('"') for p in sent}
    chosen = []
    for number, size in expected.items():
        candidates = listed[number]
        declared = [p for p in candidates if p["ETag"].strip('"') == sent_etags.get(number)]
        if not declared and not any(p["Size"] == size for p in candidates):
            declared = candidates  # named by its wrong length below
        if not declared:
            raise UploadRefused(f"Part {number} of {f.label} in storage is not the part your "
                                f"browser sent. {ENDED}")
        if declared[0]["Size"] != size:
            raise UploadRefused(f"Part {number} of {f.label} is {declared[0]['Size']:,} "
                                f"bytes in storage; expected {size:,}. {ENDED}")
        chosen.append(declared[0])
    return chosen


def upload_complete(*, membership, sample_file: SampleFile, parts: list[dict], sha256: str,
                    request=None) -> SampleFile:
    """Finish the upload after checking every part against S3; the pair goes to verification
    once both files are in. Parts that are not the file declared end the upload at once
    (aborted, so the refused bytes do not wait a day for the sweep) and answer UploadRefused."""
    sha256 = (sha256 or "").lower()
    if not SHA256_HEX.match(sha256):
        raise ValidationError("The file's SHA-256 must be 64 hexadecimal characters.")
    raw = bucket_name("raw")
    refused = None
    with transaction.atomic():
        f = _locked(sample_file)
        if f.status != FileStatus.UPLOADING or not f.multipart_upload_id:
            raise UploadConflict(f"{f.label} has no upload in progress (it is "
                                 f"{f.get_status_display().lower()}).")
        stored = multipart.list_uploaded_parts(raw, f.key, f.multipart_upload_id)
        try:
            ordered = _check_parts(f, stored, parts)
        except UploadRefused as exc:
            refused = exc
            _end_upload(f, error=exc.messages[0])
            audit_file(membership.user, audit_actions.UPLOAD_CANCELLED, f, request,
                       reason="refused", error=f.error,
                       stored_bytes=sum(p["Size"] for p in stored))
        else:
            stored_bytes = _complete(f, ordered, raw)
            f.client_sha256 = sha256
            f.save()
            audit_file(membership.user, audit_actions.UPLOAD_COMPLETED, f, request,
                       sha256=sha256, stored_bytes=stored_bytes)
            start_verification_when_both_uploaded(f.sample)
    if refused is not None:
        raise refused
    return f


def _complete(f: SampleFile, ordered: list[dict], raw: str) -> int | None:
    multipart.complete_multipart_upload(raw, f.key, f.multipart_upload_id, ordered)
    size_in_storage = s3.object_size(raw, f.key)
    if size_in_storage is None:
        ledger.record_delete(bucket=raw, key=f.key)
    else:  # the object exists, whatever its verdict
        ledger.record_put(bucket=raw, key=f.key, size=size_in_storage, lab=f.lab,
                          job_id=f.sample.job_id)
        metric_records.count("upload_bytes", size_in_storage, via="multipart")
    if size_in_storage != f.size:
        f.status, f.error = FileStatus.CORRUPT, (
            f"{f.label} is {size_in_storage or 0:,} bytes in storage; expected {f.size:,}.")
    else:
        f.status = FileStatus.UPLOADED
    f.multipart_upload_id = ""
    f.uploaded_at = timezone.now()
    return size_in_storage


def _end_upload(f: SampleFile, *, error: str = "") -> None:
    """Abort the file's multipart upload (its parts leave storage now) and close its ledger row;
    the file can be uploaded again."""
    raw = bucket_name("raw")
    if f.multipart_upload_id:
        multipart.abort_multipart_upload(raw, f.key, f.multipart_upload_id)
    ledger.record_delete(bucket=raw, key=f.key)
    f.status, f.multipart_upload_id, f.error = FileStatus.CANCELLED, "", error
    f.save()


def upload_cancel(*, membership, sample_file: SampleFile, request=None) -> SampleFile:
    with transaction.atomic():
        f = _locked(sample_file)
        if f.status != FileStatus.UPLOADING:
            raise UploadConflict(f"{f.label} has no upload in progress.")
        _end_upload(f)
        audit_file(membership.user, audit_actions.UPLOAD_CANCELLED, f, request)
    return f


def intake_sweep(*, now=None) -> dict:
    """Abort multipart uploads left unfinished for a day, and re-queue verifications that a dead
    worker or an unreachable storage server left hanging."""
    now = now or timezone.now()
    raw = bucket_name("raw")
    aborted = 0
    for upload in multipart.list_unfinished_uploads(raw):
        if now - upload["Initiated"] < ABANDONED_UPLOAD_AGE:
            continue
        multipart.abort_multipart_upload(raw, upload["Key"], upload["UploadId"])
        aborted += 1
        with transaction.atomic():
            for f in for_update(SampleFile.objects).filter(
                    multipart_upload_id=upload["UploadId"], status=FileStatus.UPLOADING):
                _end_upload(f, error="The upload was left unfinished for a day and was "
                                     "cleaned up.")
                audit_file(None, audit_actions.UPLOAD_ABANDONED, f, None)
    return {"aborted_uploads": aborted, "requeued_verifications": verifications_resume(now=now)}
