"""Every SHA-256 the lab's records hold for a stored object: the digest source jobs registers
with storage (storage/digests.py) for the scrub and the backup's cross-check. A FASTQ's digest is
recorded nowhere else (its ledger row is written before the bytes arrive); outputs, reports and
archives have theirs in the ledger too, and are held against both, since it is their table's
digest that downloads hand out."""

from __future__ import annotations

from collections.abc import Iterator

from jobs.models import Job, JobOutput, Report, SampleFile
from storage.buckets import REGISTRY, bucket_name
from tenants.models import AuditExport

CHUNK = 2_000   # rows fetched at a time: a year of a lab's records is not held in memory


def recorded_digests(bucket: str | None = None,
                     keys: list[str] | None = None) -> Iterator[tuple[str, str, str, str]]:
    """(bucket, key, sha256, what) of every object a row records a digest for; with `bucket`
    and `keys`, only those (one query per kind of record)."""
    roles = [rule.role for rule in REGISTRY if bucket is None or bucket_name(rule.role) == bucket]

    def only(rows, key_field: str):
        return rows if keys is None else rows.filter(**{f"{key_field}__in": keys})

    if "raw" in roles:
        for pk, key, sha256 in only(SampleFile.objects.exclude(sha256=""), "key") \
                .values_list("pk", "key", "sha256").iterator(CHUNK):
            yield bucket_name("raw"), key, sha256, f"FASTQ {pk}"
    for pk, role, key, sha256 in only(JobOutput.objects.exclude(sha256="")
                                      .filter(bucket_role__in=roles), "key") \
            .values_list("pk", "bucket_role", "key", "sha256").iterator(CHUNK):
        yield bucket_name(role), key, sha256, f"output {pk}"
    if "results" in roles:
        for field in ("draft", "signed"):
            reports = only(Report.objects.exclude(**{f"{field}_key": ""})
                           .exclude(**{f"{field}_sha256": ""}), f"{field}_key")
            for pk, key, sha256 in reports.values_list("pk", f"{field}_key", f"{field}_sha256").iterator(CHUNK):
                yield bucket_name("results"), key, sha256, f"report {pk} {field}"
    if "archives" in roles:
        for pk, key, sha256 in only(Job.objects.exclude(archive_key="")
                                    .exclude(archive_sha256=""), "archive_key") \
                .values_list("pk", "archive_key", "archive_sha256").iterator(CHUNK):
            yield bucket_name("archives"), key, sha256, f"archive of job {pk}"
    exports = AuditExport.objects.all() if bucket is None else AuditExport.objects.filter(
        bucket=bucket)
    for month, export_bucket, key, sha256 in only(exports, "key").values_list(
            "month", "bucket", "key", "sha256").iterator(CHUNK):
        yield export_bucket, key, sha256, f"audit export {month:%Y-%m}"
