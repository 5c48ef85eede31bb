"""Every SHA-256 the lab's records hold for a stored object, for the backup's cross-check
(storage/backup/manifest.py reads it through settings.BACKUP_DIGEST_SOURCES, since storage may
not import the apps above it). Read inside the caller's transaction: during a backup, the dump's
snapshot."""

from __future__ import annotations

from collections.abc import Iterator

from jobs.models import Job, JobOutput, Report, SampleFile
from storage.buckets import bucket_name
from tenants.models import AuditExport


def recorded_digests() -> Iterator[tuple[str, str, str, str]]:
    """(bucket, key, sha256, what) of every object a row records a digest for."""
    raw, results, archives = bucket_name("raw"), bucket_name("results"), bucket_name("archives")
    for pk, key, sha256 in SampleFile.objects.exclude(sha256="").values_list("pk", "key", "sha256"):
        yield raw, key, sha256, f"FASTQ {pk}"
    for pk, role, key, sha256 in JobOutput.objects.exclude(sha256="") \
            .values_list("pk", "bucket_role", "key", "sha256"):
        yield bucket_name(role), key, sha256, f"output {pk}"
    for pk, draft_key, draft_sha, signed_key, signed_sha in Report.objects.values_list(
            "pk", "draft_key", "draft_sha256", "signed_key", "signed_sha256"):
        if draft_key and draft_sha:
            yield results, draft_key, draft_sha, f"report {pk} draft"
        if signed_key and signed_sha:
            yield results, signed_key, signed_sha, f"report {pk} signed"
    for pk, key, sha256 in Job.objects.exclude(archive_key="").exclude(archive_sha256="") \
            .values_list("pk", "archive_key", "archive_sha256"):
        yield archives, key, sha256, f"archive of job {pk}"
    for month, bucket, key, sha256 in AuditExport.objects.values_list("month", "bucket", "key",
                                                                      "sha256"):
        yield bucket, key, sha256, f"audit export {month:%Y-%m}"
