"""Writes for sample intake: create a sample (its two files then come through
jobs/intake/uploads.py, or at once through the plain form here) and audit what happens to its
files. Verification is jobs/intake/verification.py.
"""

from __future__ import annotations

import logging
import uuid

from django.core.exceptions import ValidationError
from django.core.files.storage import storages
from django.db import IntegrityError, transaction
from django.utils import timezone

from jobs.intake import received
from jobs.intake.verification import start_verification_when_both_uploaded
from jobs.models import FileStatus, Sample, SampleFile, SampleStatus
from storage import keys, ledger, metric_records, s3, versions
from storage.buckets import bucket_name
from storage.checksums import sha256_chunks
from tenants import audit_actions
from tenants.audit import SYSTEM, Actor, audit_record


log = logging.getLogger(__name__)

MIB = 1024 * 1024


def display_name(name: str) -> str:
    return name[:255]


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
            audit_record(actor=Actor.for_user(membership.user), action=audit_actions.SAMPLE_CREATED,
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


def audit_file(user, action: str, f: SampleFile, request, **extra) -> None:
    audit_record(actor=Actor.for_user(user) if user else SYSTEM, action=action, lab=f.lab,
                 resource_type="sample_file", resource_id=f.pk, request=request,
                 details={"sample": str(f.sample_id), "read": f.label, "size": f.size, **extra})


def sample_create_from_plain_upload(*, membership, data: dict, uploads: dict, request=None
                                    ) -> Sample:
    """Stream the two uploaded temporary files to storage, then record the sample. An upload may
    also be a file received by an earlier try of the form (jobs/intake/received.py): it is copied
    inside storage, and its kept copy removed once the sample is recorded.

    Objects are written first, under a fresh job id; if storage or recording fails, the objects
    this call wrote are removed again and nothing is recorded.
    """
    return samples_create_from_plain_uploads(membership=membership, request=request,
                                             samples=[(data, uploads)])[0]


def samples_create_from_plain_uploads(*, membership, samples: list[tuple[dict, dict]],
                                      request=None) -> list[Sample]:
    """Several samples from the form without JavaScript (a sample sheet), all or none: every
    file is stored first, then every sample is recorded in one transaction; if anything fails,
    the objects this call stored are removed and the error is raised."""
    lab = membership.lab
    for data, _uploads in samples:
        if sample_name_taken(lab, data["name"]):
            raise ValidationError({"name": f"{lab.name} already has a sample named "
                                           f"{data['name']}."})
    written: list[str] = []
    try:
        prepared = [(data, uploads, *_store_plain_uploads(lab, data["name"], uploads, written))
                    for data, uploads in samples]
        with transaction.atomic():
            created = [_record_plain_sample(membership, data, uploads, job_id, digests, request)
                       for data, uploads, job_id, digests in prepared]
    except Exception:
        _remove_written(written)
        raise
    for _data, uploads in samples:
        for upload in uploads.values():
            if isinstance(upload, received.ReceivedFile):
                received.release(upload)
    return created


def _store_plain_uploads(lab, name: str, uploads: dict, written: list[str]
                         ) -> tuple[uuid.UUID, dict]:
    """Write one sample's files under a fresh job id; each key written is added to `written`."""
    job_id = uuid.uuid4()
    raw_storage = storages["raw"]
    digests = {}
    for read, upload in sorted(uploads.items()):
        key = keys.raw_fastq_key(lab, job_id, name, read)
        if isinstance(upload, received.ReceivedFile):
            digests[read] = upload.sha256
            received.claim(upload, key)
            written.append(key)
            continue
        digests[read] = _sha256_of(upload)
        upload.seek(0)
        with s3.translated_errors(f"store R{read}"):
            stored_as = raw_storage.save(key, upload)
        written.append(stored_as)
        if stored_as != key:  # django-storages renames rather than overwrite; keys are unique
            raise ValidationError(f"R{read} could not be stored under its own key.")
    return job_id, digests


def _remove_written(written: list[str]) -> None:
    raw = bucket_name("raw")
    for key in written:
        try:
            versions.delete_object_versions(raw, key)
        except s3.StorageError:  # storage is failing: the raw bucket's expiry rule removes it
            log.warning("could not remove %s after a failed upload", key, exc_info=True)


def _record_plain_sample(membership, data: dict, uploads: dict, job_id: uuid.UUID,
                         digests: dict, request) -> Sample:
    lab = membership.lab
    files = {read: (upload.name, upload.size) for read, upload in uploads.items()}
    sample = sample_create(membership=membership, data=data, files=files, job_id=job_id,
                           request=request)
    for f in sample.files.all():
        size_in_storage = s3.object_size(bucket_name("raw"), f.key)
        if size_in_storage is not None:
            ledger.record_put(bucket=bucket_name("raw"), key=f.key, size=size_in_storage,
                              lab=lab, job_id=job_id)
            metric_records.count("upload_bytes", size_in_storage, via="form")
        f.client_sha256 = digests[f.read]
        f.uploaded_at = timezone.now()
        if size_in_storage == f.size:
            f.status = FileStatus.UPLOADED
        else:
            f.status = FileStatus.CORRUPT
            f.error = (f"{f.label} is {size_in_storage or 0:,} bytes in storage; "
                       f"expected {f.size:,}.")
        f.save()
        audit_file(membership.user, audit_actions.UPLOAD_COMPLETED, f, request,
                   sha256=f.client_sha256, path="form")
    start_verification_when_both_uploaded(sample)
    return sample


def _sha256_of(upload) -> str:
    upload.seek(0)
    return sha256_chunks(upload.chunks(8 * MIB))
