"""Archiving a finished job into one verified tar.gz, restoring it, and purging it at the end.

Everything streams: each hot object goes from its GET body straight into a tar member, the tar.gz
leaves as a multipart upload in parts of WES_ARCHIVE_PART_BYTES, and verification and restore read
the archive back member by member. No local disk is used, and memory stays at about one part
whatever the job's size.

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
import io
import json
import tarfile
import uuid
import zlib

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from jobs.models import InvalidTransition, Job, JobOutput, JobStatus
from common.db import for_update
from jobs.records import holds
from storage import keys, ledger, s3, versions
from storage.buckets import bucket_name
from storage.checksums import size_and_sha256
from storage.credentials import acting_as
from tenants import audit_actions
from tenants.audit import SYSTEM, audit_record

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
COPY_CHUNK = 1024 * 1024
HOT_ROLES = ("results", "intermediate")   # deleted once archived; logs follow their own rule
# Names the advisory locks that keep two workers from archiving, restoring or purging one job.
JOB_LOCK_CLASS = 0x5745_5341   # "WESA"


class ArchiveError(Exception):
    """Archiving, restoring or purging cannot go on; the message says why and what was kept."""


class ArchiveVerificationError(ArchiveError):
    """The archive read back from storage does not match its manifest or its recorded checksum."""


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


def _member_path(job: Job, key: str) -> str:
    prefix = keys.job_prefix(job.lab, job.pk)
    return key.removeprefix(prefix) if key.startswith(prefix) else f"report/{key.rsplit('/', 1)[-1]}"


def report_files(job: Job) -> list[dict]:
    """The report PDFs (drafts and signed versions) the job's Report rows point at."""
    found, seen = [], set()
    for report in job.reports.order_by("version"):
        for kind, key, sha256, size in (
                ("draft", report.draft_key, report.draft_sha256, report.draft_size),
                ("signed", report.signed_key, report.signed_sha256, report.signed_size)):
            if key and key not in seen:
                seen.add(key)
                found.append({"key": key, "sha256": sha256, "size": size,
                              "label": f"report v{report.version} ({kind})"})
    return found


def hot_members(job: Job) -> tuple[list[dict], list[dict]]:
    """The archive's members, as stored now: every output of the job and every report PDF, each
    checked to be in storage at its published size. Intermediates (30 days) and logs (a year)
    may already have expired under their buckets' own rules; they are listed as expired. A missing
    result or report is an error: archiving must not make a loss look like a success."""
    members, expired, missing = [], [], []
    for output in job.outputs.order_by("path"):
        entry = {"path": output.path, "kind": "output", "bucket_role": output.bucket_role,
                 "key": output.key, "size": output.size, "sha256": output.sha256}
        bucket = bucket_name(output.bucket_role)
        info = s3.object_info(bucket, output.key)
        if info is None:
            (expired if output.bucket_role in ("intermediate", "logs") else missing).append(entry)
            continue
        if info["size"] != output.size:
            raise ArchiveError(f"{output.path} in {bucket} is {info['size']:,} bytes but was "
                               f"published as {output.size:,}; job {job.pk} is not archived and "
                               "nothing was deleted")
        members.append(entry)
    results = bucket_name("results")
    for report in report_files(job):
        entry = {"path": _member_path(job, report["key"]), "kind": "report",
                 "bucket_role": "results", "key": report["key"], "size": report["size"],
                 "sha256": report["sha256"]}
        info = s3.object_info(results, report["key"])
        if info is None:
            missing.append(entry)
            continue
        entry["size"] = entry["size"] if entry["size"] is not None else info["size"]
        entry["sha256"] = entry["sha256"] or info["metadata"].get("sha256", "")
        if not entry["sha256"] or entry["size"] != info["size"]:
            raise ArchiveError(f"{report['label']} ({report['key']}) has no recorded SHA-256 or "
                               f"its size differs from storage; job {job.pk} is not archived")
        members.append(entry)
    if missing:
        raise ArchiveError(f"job {job.pk} cannot be archived: {len(missing)} result file(s) are "
                           f"missing from storage: {', '.join(m['path'] for m in missing)}; "
                           "nothing was archived or deleted")
    paths = [m["path"] for m in members]
    if len(paths) != len(set(paths)):
        raise ArchiveError(f"job {job.pk} has two files at one archive path: {sorted(paths)}")
    return members, expired


def _tar_info(name: str, size: int, mtime) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o640, int(mtime.timestamp())
    info.uname = info.gname = "wes-portal"
    return info


def _write_archive(job: Job, members: list[dict], expired: list[dict]) -> tuple[int, str]:
    """Stream the members into a tar.gz at the job's archive key; (size, sha256) of the object."""
    bucket = bucket_name("archives")
    for upload in s3.list_unfinished_uploads(bucket):
        if upload["Key"] == job.archive_key:   # left by a worker that died while writing
            s3.abort_multipart_upload(bucket, upload["Key"], upload["UploadId"])
    mtime = job.finished_at or job.submitted_at
    manifest = json.dumps({
        "format": MANIFEST_FORMAT, "job": str(job.pk), "lab": str(job.lab_id),
        "sample": job.sample.name, "finished_at": mtime.isoformat(),
        "members": members, "expired": expired,
    }, indent=2, sort_keys=True).encode()
    writer = s3.ObjectWriter(bucket, job.archive_key, part_size=settings.ARCHIVE_PART_BYTES,
                             metadata={"job": str(job.pk)}, content_type="application/gzip")
    try:
        with tarfile.open(fileobj=writer, mode="w|gz", bufsize=COPY_CHUNK,
                          copybufsize=COPY_CHUNK) as tar:
            tar.addfile(_tar_info(MANIFEST_NAME, len(manifest), mtime), io.BytesIO(manifest))
            for member in members:
                _add_member(tar, member, mtime)
        writer.close()
    except BaseException:
        writer.abort()
        raise
    return writer.size, writer.sha256


def _add_member(tar: tarfile.TarFile, member: dict, mtime) -> None:
    bucket = bucket_name(member["bucket_role"])
    body = s3.HashingReader(s3.open_object(bucket, member["key"]))
    try:
        tar.addfile(_tar_info(member["path"], member["size"], mtime), body)
    except OSError as exc:   # tarfile: "unexpected end of data"
        raise ArchiveError(f"{member['path']} ended early while reading it from {bucket} "
                           f"({exc}); nothing was archived or deleted") from exc
    finally:
        body.close()
    if body.sha256 != member["sha256"]:
        raise ArchiveError(f"{member['path']} in {bucket} no longer matches its recorded "
                           f"SHA-256 ({body.sha256} != {member['sha256']}); nothing was "
                           "archived or deleted")


def _read_archive(bucket: str, key: str, members: list[dict], on_member=None) -> tuple[int, str]:
    """Stream the archive, check its manifest and every member's size and SHA-256; `on_member`
    (entry, chunks) may consume each member's bytes (restore writes them out). Returns the size
    and SHA-256 of the whole object."""
    expected = {m["path"]: m for m in members}
    seen: set[str] = set()
    where = f"archive {bucket}/{key}"

    def fail(problem: str) -> ArchiveVerificationError:
        return ArchiveVerificationError(f"{where} failed verification: {problem}")

    reader = s3.HashingReader(s3.open_object(bucket, key))
    try:
        with tarfile.open(fileobj=reader, mode="r|gz", bufsize=COPY_CHUNK) as tar:
            first = tar.next()
            if first is None or first.name != MANIFEST_NAME:
                raise fail(f"it does not start with {MANIFEST_NAME}")
            document = json.loads(tar.extractfile(first).read())
            if document.get("members") != members:
                raise fail(f"its {MANIFEST_NAME} differs from the manifest recorded for the job")
            while (info := tar.next()) is not None:
                entry = expected.get(info.name)
                if entry is None or info.name in seen or not info.isfile():
                    raise fail(f"unexpected member {info.name!r}")
                seen.add(info.name)
                stream = tar.extractfile(info)
                chunks = iter(lambda: stream.read(COPY_CHUNK), b"")
                size, digest = (on_member or _hash_only)(entry, chunks)
                if (size, digest) != (entry["size"], entry["sha256"]):
                    raise fail(f"{info.name} has {size:,} bytes with SHA-256 {digest}, the "
                               f"manifest says {entry['size']:,} bytes with {entry['sha256']}")
        reader.drain()
    except (tarfile.TarError, zlib.error, EOFError, ValueError) as exc:
        raise fail(f"it cannot be read as tar.gz ({exc})") from exc
    except OSError as exc:   # tarfile's "unexpected end of data" on a truncated archive
        raise fail(f"it ends early ({exc})") from exc
    finally:
        reader.close()
    absent = sorted(expected.keys() - seen)
    if absent:
        raise fail(f"{len(absent)} member(s) are missing: {', '.join(absent)}")
    return reader.size, reader.sha256


def _hash_only(entry: dict, chunks) -> tuple[int, str]:
    return size_and_sha256(chunks)


def verify_archive(job: Job) -> None:
    """Read the job's recorded archive back in full; raise ArchiveVerificationError on any
    difference from the recorded manifest, size or SHA-256."""
    bucket = bucket_name("archives")
    if s3.object_info(bucket, job.archive_key) is None:
        raise ArchiveVerificationError(f"archive {bucket}/{job.archive_key} failed verification: "
                                       "the object is not in storage")
    size, digest = _read_archive(bucket, job.archive_key, job.archive_manifest)
    if (size, digest) != (job.archive_size, job.archive_sha256):
        raise ArchiveVerificationError(
            f"archive {bucket}/{job.archive_key} failed verification: the object has {size:,} "
            f"bytes with SHA-256 {digest}, but {job.archive_size:,} bytes with "
            f"{job.archive_sha256} were written")


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
    size, digest = _write_archive(job, members, expired)
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
        size, digest = _read_archive(bucket, job.archive_key, members)
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
                return _hash_only(entry, chunks)
            key = restore_key(job, entry)
            there = s3.object_info(results, key)
            if there and there["size"] == entry["size"] and \
                    there["metadata"].get("sha256") == entry["sha256"]:
                kept.append((entry, key))
                return _hash_only(entry, chunks)
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
            size, digest = _read_archive(bucket_name("archives"), job.archive_key,
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
