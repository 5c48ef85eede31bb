"""Archiving a finished job into one verified tar.gz, restoring it, and purging it at the end.

Everything streams: each hot object goes from its GET body straight into a tar member, the tar.gz
leaves as a multipart upload in parts of WES_ARCHIVE_PART_BYTES, and verification and restore read
the archive back member by member. No local disk is used, and memory stays at about one part
whatever the job's size. The archive's members, manifest and tar.gz are archive_format.py's.

The order is what makes deletion safe:
  1. fix the archive key on the job (so a retry writes the same object, never a second archive);
  2. write the archive; record its size, SHA-256 and manifest on the job;
  3. read it back: every member's size and SHA-256 against the manifest, and the whole object's;
  4. under the job's row lock, check the legal hold again, delete the hot results and
     intermediates (every version), and mark the job archived, audited, in one transaction.
A crash anywhere is picked up by running again: a recorded archive is verified again rather than
rewritten, an unrecorded one found at the key is adopted if it verifies and removed if not.
"""

from __future__ import annotations

import contextlib
import uuid

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from jobs.models import InvalidTransition, Job, JobOutput, JobStatus
from common.db import for_update
from jobs.records import holds
from jobs.records.archive_format import (ArchiveError, ArchiveVerificationError, hash_only,
                                         hot_members, read_archive, report_files, verify_archive,
                                         write_archive)
from storage import keys, ledger, s3, versions
from storage.buckets import bucket_name
from storage.credentials import acting_as
from tenants import audit_actions
from tenants.audit import SYSTEM, audit_record

HOT_ROLES = ("results", "intermediate")   # deleted once archived; logs follow their own rule
# Names the advisory locks that keep two workers from archiving, restoring or purging one job.
JOB_LOCK_CLASS = 0x5745_5341   # "WESA"


class JobOnHold(ArchiveError):
    pass


class JobBusy(ArchiveError):
    pass


def _hold_error(job: Job, action: str) -> JobOnHold:
    return JobOnHold(f"job {job.pk} is under legal hold since {job.legal_hold_at:%Y-%m-%d} "
                     f"({job.legal_hold_reason}, placed by {job.legal_hold_by}); it is not "
                     f"{action} until the hold is lifted")


@contextlib.contextmanager
def _exclusive(job_id):
    """One archive/restore/purge of a job at a time, across workers, without holding a database
    transaction open for the minutes a large archive takes (a session-level advisory lock)."""
    if connection.vendor != "postgresql":
        yield  # SQLite (development): one worker, one writer
        return
    object_id = int.from_bytes(uuid.UUID(str(job_id)).bytes[:4], "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [JOB_LOCK_CLASS, object_id])
        if not cursor.fetchone()[0]:
            raise JobBusy(f"job {job_id} is being archived, restored or purged by another worker")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [JOB_LOCK_CLASS, object_id])


def _locked(job_id) -> Job:
    return for_update(Job.objects).select_related("lab", "sample").get(pk=job_id)


def _save(job: Job, *fields: str) -> None:
    job.save(update_fields=list(fields))


@acting_as("records")
def job_archive(*, job_id, now=None) -> Job:
    """Archive one succeeded job: write, verify, then delete its hot files. Refuses a job under
    legal hold (checked at the start and again, under the row lock, before anything is deleted).
    Safe to run again after a crash at any point; an archived job is returned unchanged."""
    now = now or timezone.now()
    with _exclusive(job_id):
        job = Job.objects.select_related("lab", "sample").get(pk=job_id)
        if job.status == JobStatus.ARCHIVED:
            return job
        try:
            return _archive(job, now=now)
        except (JobOnHold, ArchiveVerificationError):
            raise   # a hold is not a failure; a failed verification is audited where it is found
        except ArchiveError as exc:
            audit_record(actor=SYSTEM, action=audit_actions.JOB_ARCHIVE_FAILED, lab=job.lab,
                         resource_type="job", resource_id=job.pk, details={"error": str(exc)})
            raise


def _archive(job: Job, *, now) -> Job:
    _check_archivable(job)
    job, verified = _write_unless_recorded(job.pk, now=now)
    if not verified:
        try:
            verify_archive(job)
        except ArchiveVerificationError as exc:
            _forget_failed_archive(job.pk, exc)
            raise
    return _remove_hot_files(job.pk, now=now)


def _check_archivable(job: Job) -> None:
    if job.legal_hold:
        raise _hold_error(job, "archived")
    if not job.can_archive():
        raise ArchiveError(f"job {job.pk} is {job.status}: only a succeeded job is archived")


def _write_unless_recorded(job_id, *, now) -> tuple[Job, bool]:
    """The job with its archive written and recorded, and whether it was verified on the way
    (an unrecorded archive found at the key is adopted only after a full read-back)."""
    with transaction.atomic():
        job = _locked(job_id)
        job.plan_archive(key=keys.archive_key(job.lab, job.pk, now.date()))
        _save(job, "archive_key")
    if job.archive_sha256:
        return job, False
    members, expired = hot_members(job)
    if s3.object_info(bucket_name("archives"), job.archive_key) is not None:
        if _adopt_or_remove(job, members):
            job.refresh_from_db()
            return job, True
    size, digest = write_archive(job, members, expired)
    _record(job_id, size=size, sha256=digest, manifest=members)
    job.refresh_from_db()
    return job, False


def _record(job_id, *, size: int, sha256: str, manifest: list[dict]) -> None:
    with transaction.atomic():
        job = _locked(job_id)
        job.record_archive(size=size, sha256=sha256, manifest=manifest)
        _save(job, "archive_size", "archive_sha256", "archive_manifest")
        ledger.record_put(bucket=bucket_name("archives"), key=job.archive_key, size=size,
                          lab=job.lab, job_id=job.pk, sha256=sha256)


def _adopt_or_remove(job: Job, members: list[dict]) -> bool:
    """An object at the archive key that the job never recorded: a worker died after completing
    the upload. Keep it if it verifies against the manifest; otherwise remove it (the hot files
    are all still in place) so that it is written again rather than left as a second version."""
    bucket = bucket_name("archives")
    try:
        size, digest = read_archive(bucket, job.archive_key, members)
    except ArchiveVerificationError:
        versions.delete_object_versions(bucket, job.archive_key)
        ledger.record_delete(bucket=bucket, key=job.archive_key)
        return False
    _record(job.pk, size=size, sha256=digest, manifest=members)
    return True


def _forget_failed_archive(job_id, error: Exception) -> None:
    """Nothing was deleted; the job stays succeeded and the next pass writes a fresh archive."""
    with transaction.atomic():
        job = _locked(job_id)
        details = {"key": job.archive_key, "sha256": job.archive_sha256,
                   "size": job.archive_size, "error": str(error)}
        job.discard_archive()
        _save(job, "archive_size", "archive_sha256", "archive_manifest")
        audit_record(actor=SYSTEM, action=audit_actions.JOB_ARCHIVE_FAILED, lab=job.lab,
                     resource_type="job", resource_id=job.pk, details=details)


def _remove_hot_files(job_id, *, now) -> Job:
    with transaction.atomic():
        job = _locked(job_id)
        if job.legal_hold:
            raise _hold_error(job, "archived")
        archived_keys = {m["key"] for m in job.archive_manifest}
        late = [r["label"] for r in report_files(job) if r["key"] not in archived_keys]
        if late:
            job.discard_archive()
            _save(job, "archive_size", "archive_sha256", "archive_manifest")
            raise ArchiveError(f"{', '.join(late)} of job {job.pk} was written after the archive; "
                               "nothing was deleted and the next pass archives the job again")
        deleted = []
        hot = [(m["bucket_role"], m["key"]) for m in job.archive_manifest
               if m["bucket_role"] in HOT_ROLES]
        # Outputs whose objects already expired are closed in the ledger too.
        hot += [(o.bucket_role, o.key) for o in job.outputs.filter(bucket_role__in=HOT_ROLES)]
        for role, key in dict.fromkeys(hot):
            bucket = bucket_name(role)
            if versions.delete_object_versions(bucket, key):
                deleted.append(key)
            ledger.record_delete(bucket=bucket, key=key)
        job.outputs.filter(bucket_role__in=HOT_ROLES).delete()
        job.archive(now=now)
        _save(job, "status", "archived_at")
        audit_record(actor=SYSTEM, action=audit_actions.JOB_ARCHIVED, lab=job.lab, resource_type="job",
                     resource_id=job.pk,
                     details={"key": job.archive_key, "size": job.archive_size,
                              "sha256": job.archive_sha256, "members": len(job.archive_manifest),
                              "deleted": len(deleted)})
        return job


def restore_key(job: Job, member: dict) -> str:
    """Where a member comes back in the results bucket: a result or report at its own key, an
    intermediate or log under the job's prefix by its published path."""
    if member["bucket_role"] == "results":
        return member["key"]
    return keys.job_output_key(job.lab, job.pk, member["path"])


@acting_as("records")
def job_restore(*, job_id, actor=SYSTEM, request=None) -> dict:
    """Bring an archived job's files back into the results bucket, each verified against the
    manifest as it streams out of the archive. The job stays archived (its archive is still the
    record); the restored files get JobOutput rows again, so the job page offers them. Files
    already back (same size and SHA-256) are kept; logs still in the logs bucket are left there."""
    results = bucket_name("results")
    with _exclusive(job_id):
        job = Job.objects.select_related("lab").get(pk=job_id)
        if job.status != JobStatus.ARCHIVED:
            when = f" on {job.purged_at:%Y-%m-%d}" if job.purged_at else ""
            raise ArchiveError(f"job {job.pk} is {job.status}{when}: only an archived job can be "
                               "restored")
        logs_present = {o.path for o in job.outputs.filter(bucket_role="logs")
                        if s3.object_info(bucket_name("logs"), o.key) is not None}
        written, kept, skipped = [], [], []

        def restore_member(entry: dict, chunks) -> tuple[int, str]:
            if entry["bucket_role"] == "logs" and entry["path"] in logs_present:
                skipped.append(entry)
                return hash_only(entry, chunks)
            key = restore_key(job, entry)
            there = s3.object_info(results, key)
            if there and there["size"] == entry["size"] and \
                    there["metadata"].get("sha256") == entry["sha256"]:
                kept.append((entry, key))
                return hash_only(entry, chunks)
            writer = s3.ObjectWriter(results, key, part_size=settings.ARCHIVE_PART_BYTES,
                                     metadata={"sha256": entry["sha256"]})
            try:
                for chunk in chunks:
                    writer.write(chunk)
                if (writer.size, writer.sha256) != (entry["size"], entry["sha256"]):
                    writer.abort()   # never complete an object that does not match
                    return writer.size, writer.sha256
                writer.close()
            except BaseException:
                writer.abort()
                raise
            written.append((entry, key))
            return writer.size, writer.sha256

        try:
            size, digest = read_archive(bucket_name("archives"), job.archive_key,
                                         job.archive_manifest, on_member=restore_member)
            if (size, digest) != (job.archive_size, job.archive_sha256):
                raise ArchiveVerificationError(
                    f"archive {job.archive_key} failed verification: SHA-256 {digest} is not the "
                    f"recorded {job.archive_sha256}")
        except BaseException:
            for _entry, key in written:   # only what this run wrote; nothing is half-restored
                versions.delete_object_versions(results, key)
            raise

        now = timezone.now()
        with transaction.atomic():
            if for_update(Job.objects).values_list("legal_hold", flat=True).get(pk=job.pk):
                holds.job_objects_hold(job, on=True)   # restored copies are held like the rest
            for entry, key in written:
                ledger.record_put(bucket=results, key=key, size=entry["size"], lab=job.lab,
                                  job_id=job.pk, sha256=entry["sha256"])
            for entry, key in written + kept:
                if entry["kind"] == "output":
                    JobOutput.objects.update_or_create(
                        job=job, path=entry["path"],
                        defaults={"lab": job.lab, "bucket_role": "results", "key": key,
                                  "size": entry["size"], "sha256": entry["sha256"],
                                  "verified_at": now})
            audit_record(actor=actor, action=audit_actions.JOB_RESTORED, lab=job.lab,
                         resource_type="job", resource_id=job.pk, request=request,
                         details={"key": job.archive_key, "restored": len(written),
                                  "already_present": len(kept),
                                  "left_in_logs": len(skipped), "bucket": results})
    return {"restored": [e["path"] for e, _ in written], "already_present":
            [e["path"] for e, _ in kept], "left_in_logs": [e["path"] for e in skipped]}


@acting_as("records")
def job_purge(*, job_id, now=None) -> Job:
    """Delete an archived job's archive (every version) once the archive period has passed, and
    whatever of it was restored; the job row stays, purged, as the record that it existed."""
    now = now or timezone.now()
    with _exclusive(job_id), transaction.atomic():
        job = _locked(job_id)
        if job.legal_hold:
            raise _hold_error(job, "purged")
        if job.status != JobStatus.ARCHIVED:
            raise ArchiveError(f"job {job.pk} is {job.status}: only an archived job is purged")
        due = job.purge_due_at()
        if due > now:
            raise ArchiveError(f"job {job.pk} is kept until {due:%Y-%m-%d}; not purged")
        archives = bucket_name("archives")
        removed = versions.delete_object_versions(archives, job.archive_key)
        ledger.record_delete(bucket=archives, key=job.archive_key)
        files = [(o.bucket_role, o.key) for o in job.outputs.all()]
        files += [("results", r["key"]) for r in report_files(job)]
        for role, key in dict.fromkeys(files):
            versions.delete_object_versions(bucket_name(role), key)
            ledger.record_delete(bucket=bucket_name(role), key=key)
        job.outputs.all().delete()
        variants = job.variants.all().delete()[0]
        job.purge(now=now)
        _save(job, "status", "purged_at")
        audit_record(actor=SYSTEM, action=audit_actions.JOB_PURGED, lab=job.lab, resource_type="job",
                     resource_id=job.pk,
                     details={"key": job.archive_key, "archive_versions": removed,
                              "files": len(files), "variants": variants,
                              "archived_at": job.archived_at})
        return job


def _pass(due, service, *, now, dry_run: bool) -> dict:
    result: dict = {"done": [], "held": [], "failed": {}}
    for job_id, held in due.order_by("pk").values_list("pk", "legal_hold"):
        if held:
            result["held"].append(str(job_id))
        elif dry_run:
            result["done"].append(str(job_id))
        else:
            try:
                service(job_id=job_id, now=now)
                result["done"].append(str(job_id))
            except (ArchiveError, InvalidTransition, s3.StorageError) as exc:
                result["failed"][str(job_id)] = str(exc)
    return result


@acting_as("records")
def archive_due(*, now=None, dry_run: bool = False) -> dict:
    """Archive every succeeded job past the results period, skipping jobs under legal hold."""
    now = now or timezone.now()
    return _pass(Job.objects.due_for_archiving(now), job_archive, now=now, dry_run=dry_run)


@acting_as("records")
def purge_expired(*, now=None, dry_run: bool = False) -> dict:
    """Purge every archive past the archive period, skipping jobs under legal hold."""
    now = now or timezone.now()
    return _pass(Job.objects.due_for_purge(now), job_purge, now=now, dry_run=dry_run)
