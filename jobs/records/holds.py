"""A job's legal hold on the objects themselves: an S3 Object Lock legal hold on every stored
version of the job's uploaded reads, results (report PDFs included) and archive.

The portal's own archiving and purging check `Job.legal_hold`; the object hold is what also stops
the buckets' expiry rules and anyone holding the storage keys. A held version cannot be deleted,
by a lifecycle rule or by hand, until the hold is lifted. Intermediates live in an unversioned
bucket, which cannot carry Object Lock: they are not covered (they are re-derived from the reads).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from jobs.models import Job
from storage import keys, versions
from storage.buckets import bucket

HELD_ROLES = ("raw", "results", "archives")


def held_versions(job: Job, *, reads: bool = True) -> Iterator[tuple[str, str, str]]:
    """(bucket role, key, version id) of every stored version the job's hold covers; `reads`
    False leaves out the sample's uploaded FASTQs."""
    raw = bucket("raw").name
    for key in sorted(set(job.sample.files.values_list("key", flat=True))) if reads else []:
        for version in versions.list_versions(raw, key):
            if version["Key"] == key:
                yield "raw", key, version["VersionId"]
    for version in versions.list_versions(bucket("results").name, keys.job_prefix(job.lab, job.pk)):
        yield "results", version["Key"], version["VersionId"]
    if job.archive_key:
        for version in versions.list_versions(bucket("archives").name, job.archive_key):
            if version["Key"] == job.archive_key:
                yield "archives", version["Key"], version["VersionId"]


def job_objects_hold(job: Job, *, on: bool) -> dict[str, int]:
    """Place (or lift) the S3 legal hold on every version the job's hold covers; returns how many
    versions per bucket role. A storage error propagates: the caller's transaction rolls back and
    the job's hold stays as it was, while versions already changed are changed again on retry.
    Lifting leaves the reads held while another analysis of the same sample is still held."""
    reads_shared = not on and Job.objects.filter(sample_id=job.sample_id, legal_hold=True) \
        .exclude(pk=job.pk).exists()
    counted: Counter = Counter()
    for role, key, version_id in held_versions(job, reads=not reads_shared):
        versions.set_legal_hold(bucket(role).name, key, version_id, on=on)
        counted[role] += 1
    return {role: counted[role] for role in HELD_ROLES}
