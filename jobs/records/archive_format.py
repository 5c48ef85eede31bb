"""The archive's format: the members a job's archive holds, its manifest, and the tar.gz itself,
written by streaming each stored object into a tar member and read back member by member against
the manifest (a member's size and SHA-256, and the whole object's).

The first member is manifest.json: the job, its lab and sample, the members with their bucket,
key, size and SHA-256, and the files that had already expired under their buckets' rules.
"""

from __future__ import annotations

import io
import json
import tarfile
import zlib

from django.conf import settings

from jobs.models import Job
from storage import keys, multipart, s3
from storage.buckets import bucket_name
from storage.checksums import size_and_sha256

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
COPY_CHUNK = 1024 * 1024


class ArchiveError(Exception):
    """Archiving, restoring or purging cannot go on; the message says why and what was kept."""


class ArchiveVerificationError(ArchiveError):
    """The archive read back from storage does not match its manifest or its recorded checksum."""


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


def write_archive(job: Job, members: list[dict], expired: list[dict]) -> tuple[int, str]:
    """Stream the members into a tar.gz at the job's archive key; (size, sha256) of the object."""
    bucket = bucket_name("archives")
    for upload in multipart.list_unfinished_uploads(bucket):
        if upload["Key"] == job.archive_key:   # left by a worker that died while writing
            multipart.abort_multipart_upload(bucket, upload["Key"], upload["UploadId"])
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


def read_archive(bucket: str, key: str, members: list[dict], on_member=None) -> tuple[int, str]:
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
                size, digest = (on_member or hash_only)(entry, chunks)
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


def hash_only(entry: dict, chunks) -> tuple[int, str]:
    return size_and_sha256(chunks)


def verify_archive(job: Job) -> None:
    """Read the job's recorded archive back in full; raise ArchiveVerificationError on any
    difference from the recorded manifest, size or SHA-256."""
    bucket = bucket_name("archives")
    if s3.object_info(bucket, job.archive_key) is None:
        raise ArchiveVerificationError(f"archive {bucket}/{job.archive_key} failed verification: "
                                       "the object is not in storage")
    size, digest = read_archive(bucket, job.archive_key, job.archive_manifest)
    if (size, digest) != (job.archive_size, job.archive_sha256):
        raise ArchiveVerificationError(
            f"archive {bucket}/{job.archive_key} failed verification: the object has {size:,} "
            f"bytes with SHA-256 {digest}, but {job.archive_size:,} bytes with "
            f"{job.archive_sha256} were written")
