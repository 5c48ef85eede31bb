"""Verification of a sample's FASTQ pair, run by the worker once both files are in storage:
checksum, gzip, FASTQ structure and pairing (jobs/intake/fastq.py), then ready or rejected."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from common.db import for_update
from common.queue import enqueue
from jobs.models import FileStatus, Sample, SampleFile, SampleStatus
from storage import metric_records, s3
from storage.buckets import bucket_name
from tenants import audit_actions
from tenants.audit import SYSTEM, audit_record


log = logging.getLogger(__name__)

VERIFY_TASK = "jobs.tasks.verify_sample"


def start_verification_when_both_uploaded(sample: Sample) -> None:
    sample = for_update(Sample.objects).get(pk=sample.pk)
    statuses = set(sample.files.values_list("status", flat=True))
    if sample.status == SampleStatus.UPLOADING and statuses == {FileStatus.UPLOADED}:
        sample.status = SampleStatus.VERIFYING
        sample.save(update_fields=["status", "updated_at"])
        enqueue_verification(sample.pk)
    elif sample.status == SampleStatus.UPLOADING and FileStatus.CORRUPT in statuses:
        corrupt = sample.files.filter(status=FileStatus.CORRUPT).first()
        _reject(sample, corrupt.error, actor=SYSTEM, cause="size")


def retry_wait(retries: int) -> timedelta:
    """How long a verification waits before it is tried again: 1, 2, 4 minutes ... after storage
    did not answer, up to WES_VERIFY_REQUEUE_AFTER_SECONDS, which is also the wait for a task
    that was lost (no retry recorded)."""
    longest = settings.VERIFY_REQUEUE_AFTER_SECONDS
    return timedelta(seconds=min(60 * 2 ** (retries - 1), longest) if retries else longest)


def verifications_resume(*, now=None) -> int:
    """Queue the verification again for samples left verifying longer than their wait (a worker
    that died, a task the broker lost, storage that did not answer); the reaper calls this every
    minute. Verifying a sample twice writes one outcome."""
    now = now or timezone.now()
    verifying = Sample.objects.filter(status=SampleStatus.VERIFYING,
                                      updated_at__lt=now - retry_wait(1))
    due = [sample_id for sample_id, updated, retries
           in verifying.values_list("pk", "updated_at", "verification_retries")
           if updated < now - retry_wait(retries)]
    for sample_id in due:
        enqueue_verification(sample_id)
    return len(due)


def _wait_for_storage(sample: Sample, error: Exception) -> Sample:
    """Storage did not answer: say so on the sample, and let the reaper try again later."""
    retries = sample.verification_retries + 1
    note = (f"Storage is unavailable, so the files could not be checked yet ({error}). "
            f"Retrying by itself in {retry_wait(retries).seconds // 60} minute(s); "
            "nothing needs to be uploaded again.")
    Sample.objects.filter(pk=sample.pk, status=SampleStatus.VERIFYING).update(
        verification_note=note, verification_retries=retries, updated_at=timezone.now())
    log.warning("verification of sample %s waits for storage (try %d): %s", sample.pk, retries,
                error)
    sample.refresh_from_db()
    return sample


def enqueue_verification(sample_id) -> None:
    enqueue(VERIFY_TASK, str(sample_id), task_name=f"verify-{sample_id}")


def sample_verify(*, sample_id) -> Sample | None:
    """Re-read both objects from storage: checksum, gzip, FASTQ structure and pairing.

    Safe to run twice: only a sample still "verifying" is looked at, and its result is written
    only if nobody else wrote one meanwhile.
    """
    from jobs.intake.fastq import Limits, validate_pair

    sample = Sample.objects.filter(pk=sample_id, status=SampleStatus.VERIFYING).first()
    if sample is None:
        return None
    f1, f2 = sample.file(1), sample.file(2)
    raw = bucket_name("raw")
    streams = {"R1": f1.key, "R2": f2.key}

    def reopen(which: str):
        return s3.open_object(raw, streams[which])

    limits = Limits(max_compression_ratio=float(settings.FASTQ_MAX_COMPRESSION_RATIO))
    try:
        r1, r2 = reopen("R1"), reopen("R2")
        try:
            report = validate_pair(r1, r2, limits=limits, reopen=reopen)
        finally:
            r1.close()
            r2.close()
    except s3.StorageError as exc:
        return _wait_for_storage(sample, exc)

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
        cause = "fastq" if not report.ok else "checksum" if problem else "duplicate"
        problem = problem or _same_reads_elsewhere(sample, [f1, f2])
        if problem:
            _reject(sample, problem, actor=SYSTEM, cause=cause)
        else:
            sample.status = SampleStatus.READY
            sample.verification_note, sample.verification_retries = "", 0
            sample.save(update_fields=["status", "verification_note", "verification_retries",
                                       "updated_at"])
            audit_record(actor=SYSTEM, action=audit_actions.SAMPLE_VERIFIED, lab=sample.lab,
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
                    f"To analyse {other.sample.name} again, a lab manager starts a new "
                    f"analysis from that sample's page.")
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


def _reject(sample: Sample, reason: str, *, actor, cause: str) -> None:
    """`cause` is what /metrics counts the rejection under (common/metrics.py)."""
    metric_records.count("verification_failures", cause=cause)
    sample.status, sample.rejection_reason = SampleStatus.REJECTED, reason
    sample.save(update_fields=["status", "rejection_reason", "updated_at"])
    audit_record(actor=actor, action=audit_actions.SAMPLE_REJECTED, lab=sample.lab,
                 resource_type="sample", resource_id=sample.pk,
                 details={"sample": str(sample.pk), "reason": reason,
                          "digests": {f.label: f.client_sha256 for f in sample.files.all()}})
