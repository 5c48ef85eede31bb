"""The SHA-256 the jobs' tables hold for stored objects, for the storage scrub (storage/scrub.py),
which reads only the ledger by itself. A FASTQ's digest is recorded nowhere else (its ledger row
is written before the bytes arrive); outputs, reports and archives have theirs in the ledger
too, and are held against both, since it is their table's digest that downloads hand out."""

from __future__ import annotations

from typing import Iterable

from jobs.models import Job, JobOutput, Report, SampleFile
from storage.buckets import REGISTRY, bucket_name


def recorded_digests(bucket: str, keys: list[str]) -> Iterable[tuple[str, str, str]]:
    """(key, sha256, record) for the given keys of one bucket; one query per kind of record."""
    role = next((rule.role for rule in REGISTRY if bucket_name(rule.role) == bucket), None)
    if role is None:
        return
    if role == "raw":
        for key, digest in SampleFile.objects.filter(key__in=keys).exclude(sha256="") \
                .values_list("key", "sha256"):
            yield key, digest, "sample file"
    for key, digest in JobOutput.objects.filter(bucket_role=role, key__in=keys) \
            .exclude(sha256="").values_list("key", "sha256"):
        yield key, digest, "job output"
    if role == "results":
        for field in ("draft", "signed"):
            for key, digest in Report.objects.filter(**{f"{field}_key__in": keys}) \
                    .exclude(**{f"{field}_sha256": ""}) \
                    .values_list(f"{field}_key", f"{field}_sha256"):
                yield key, digest, f"{field} report"
    if role == "archives":
        for key, digest in Job.objects.filter(archive_key__in=keys).exclude(archive_sha256="") \
                .values_list("archive_key", "archive_sha256"):
            yield key, digest, "job archive"
