"""The objects half of a set: every stored version of every bucket, copied out through the portal's
S3 client (storage/s3.py) into content-addressed files (`blobs/ab/abcd...`, named by SHA-256, so a
version stored twice is kept once), and put back in order on another server. A bucket is
listed through a sorted spool on disk and handled a key at a time, a bounded number of keys in
flight, so memory does not grow with the number of objects.

Why not rclone for this part: rclone copies the current objects well, and with `--s3-versions`
lists and copies old versions, but as separate files (`a/x.txt`'s older version becomes
`a/x-v2026-12-05-024355-000.txt`; checked with rclone 1.60 against SeaweedFS), which copied back
are separate keys, not versions of one key in their order; and it carries neither Object Lock
retention nor legal holds. The portal does both here; rclone moves the finished set
(storage/backup/target.py).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from itertools import groupby
from pathlib import Path
from typing import Iterable, Iterator

from storage.backup.spool import SortedSpool
from storage.buckets import BucketRule
from storage.checksums import CHUNK, HashingStream
from storage.s3 import (bounded_transfer_config, bucket_exists, client, list_pages,
                        translated_errors)

WORKERS = 4
AHEAD = 64          # keys listed and in flight beyond the last one handed back
LISTING_RUN = 50_000    # listed versions sorted in memory at a time (as JSON text: ~20 MB)
SINGLE_PUT_LIMIT = 64 * 1024 * 1024


def blob_path(blobs: Path, sha256: str) -> Path:
    return blobs / sha256[:2] / sha256


def _iso(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return value.astimezone(timezone.utc).isoformat()


def versions_and_markers(bucket: str, prefix: str = ""):
    """(listed item, is a delete marker) of every version in the bucket (under `prefix`), a page at
    a time; within a key, newest first (as S3 lists them)."""
    params: dict = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": VERSIONS_PAGE}
    while True:
        with translated_errors(f"list the versions in {bucket}"):
            answer = client().list_object_versions(**params)
        items = [(v, False) for v in answer.get("Versions", [])] + \
                [(m, True) for m in answer.get("DeleteMarkers", [])]
        # One page lists versions and markers apart; merged back in S3's order per key: the
        # latest first, then by time (a sort that keeps each list's own order on a tie, since
        # servers give LastModified to the second).
        items.sort(key=lambda pair: (pair[0]["Key"], not pair[0].get("IsLatest"),
                                     _newest_first(pair[0])))
        yield from items
        if not answer.get("IsTruncated"):
            return
        params.update(KeyMarker=answer["NextKeyMarker"],
                      VersionIdMarker=answer.get("NextVersionIdMarker", ""))


def _newest_first(item: dict):
    return -item["LastModified"].timestamp()


def _listed(rule: BucketRule) -> Iterator[dict]:
    """Every version (and delete marker) of the bucket as S3 lists them: keys in order, a key's
    versions newest first. An unversioned bucket has one entry per object, version id None."""
    bucket = rule.name
    if rule.versioned:
        for item, marker in versions_and_markers(bucket):
            yield {"role": rule.role, "bucket": bucket, "key": item["Key"],
                   "version_id": item["VersionId"], "delete_marker": marker,
                   "latest": bool(item.get("IsLatest")),
                   "last_modified": _iso(item["LastModified"]),
                   "size": 0 if marker else item["Size"]}
    else:
        for page in list_pages(bucket):
            for item in page.get("Contents", []):
                yield {"role": rule.role, "bucket": bucket, "key": item["Key"],
                       "version_id": None, "delete_marker": False, "latest": True,
                       "last_modified": _iso(item["LastModified"]), "size": item["Size"]}


LISTED_CURRENT = -1   # a spooled row that only says the object listing shows the key
VERSIONS_PAGE = 1000  # versions and delete markers per listing request (S3's largest page)


def listed_keys(rule: BucketRule, spool_dir: Path) -> Iterator[list[dict]]:
    """The bucket's keys in code-point order (S3's UTF-8 byte order), one at a time: each key's
    versions oldest first with their `position`, which is what restoring needs. The listing
    goes through a sorted spool on disk under `spool_dir`, not because S3's order is wrong but
    because servers differ: SeaweedFS 4.48 lists an unversioned bucket folder by folder
    (`lab/job/x` before `lab/job-x`), and the merges downstream need one order. Within a key
    the listing's order (newest first), not the timestamps (which can tie within a second),
    decides. A versioned bucket's object listing is spooled beside its version listing, and a
    current object the version listing left out is listed by its name (`_versions_of_key`)."""
    with SortedSpool(spool_dir, run=LISTING_RUN) as spool:
        for listed, entry in enumerate(_listed(rule)):
            spool.add([entry["key"], listed, json.dumps(entry)])
        if rule.versioned:   # every current object, to find the keys the version listing skipped
            for page in list_pages(rule.name):
                spool.extend([item["Key"], LISTED_CURRENT, ""] for item in page.get("Contents", []))
        for key, rows in groupby(spool.sorted(), key=lambda row: row[0]):
            newest_first = [json.loads(row[2]) for row in rows if row[2]]
            if not newest_first:
                newest_first = list(_versions_of_key(rule, key))
            yield [{**entry, "position": position}
                   for position, entry in enumerate(reversed(newest_first))]


def _versions_of_key(rule: BucketRule, key: str) -> Iterator[dict]:
    """One key's versions, newest first, asked for by name: for a key that the bucket's object
    listing shows and its paged version listing left out. SeaweedFS 4.48 does that to keys that
    sort before a folder of the same stem (`lab/job-x`, `lab/job.y` beside `lab/job/`), once the
    listing spans more than one page; MinIO and S3 list every key."""
    for item, marker in versions_and_markers(rule.name, prefix=key):
        if item["Key"] == key:
            yield {"role": rule.role, "bucket": rule.name, "key": key,
                   "version_id": item["VersionId"], "delete_marker": marker,
                   "latest": bool(item.get("IsLatest")),
                   "last_modified": _iso(item["LastModified"]),
                   "size": 0 if marker else item["Size"]}


def bounded_map(pool: ThreadPoolExecutor, work, items: Iterable, ahead: int = AHEAD) -> Iterator:
    """`pool.map` that reads `items` only `ahead` beyond what it has handed back (Executor.map
    submits every item at once, which for a bucket's listing means all of it in memory)."""
    pending: deque = deque()
    for item in items:
        pending.append(pool.submit(work, item))
        if len(pending) >= ahead:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def copy_out(entry: dict, blobs: Path) -> dict:
    """Read one version, hash it while writing it to its blob, and note what the restore needs
    to write it back as it was (type, metadata, encryption, retention, legal hold)."""
    if entry["delete_marker"]:
        return entry
    bucket, key, version_id = entry["bucket"], entry["key"], entry["version_id"]
    params = {"Bucket": bucket, "Key": key}
    if version_id:
        params["VersionId"] = version_id
    action = f"read {key} ({version_id or 'current'}) from {bucket}"
    tmp = tempfile.NamedTemporaryFile(dir=blobs, prefix=".part-", delete=False)
    try:
        with translated_errors(action):
            answer = client().get_object(**params)
            body = answer["Body"]
            with tmp:
                hashing = HashingStream(tmp)
                for chunk in iter(lambda: body.read(CHUNK), b""):
                    hashing.write(chunk)
        target = blob_path(blobs, hashing.sha256)
        target.parent.mkdir(exist_ok=True)
        os.replace(tmp.name, target)
    finally:
        if os.path.exists(tmp.name):
            os.unlink(tmp.name)
    return {**entry, "size": hashing.size, "sha256": hashing.sha256,
            "content_type": answer.get("ContentType") or "",
            "metadata": answer.get("Metadata", {}),
            "sse": answer.get("ServerSideEncryption") or "",
            "lock_mode": answer.get("ObjectLockMode"),
            "retain_until": _iso(answer.get("ObjectLockRetainUntilDate")),
            "legal_hold": answer.get("ObjectLockLegalHoldStatus") == "ON"}


def copy_bucket(rule: BucketRule, blobs: Path, spool_dir: Path) -> Iterator[dict]:
    """Every entry of the bucket in (key, position) order, its versions copied into `blobs` as
    they come (keys in parallel, a bounded number ahead)."""
    blobs.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        for copied in bounded_map(pool, lambda versions: [copy_out(e, blobs) for e in versions],
                                  listed_keys(rule, spool_dir)):
            yield from copied


# --- restoring -------------------------------------------------------------------------------

def _lock_arguments(entry: dict, now: datetime) -> dict:
    extra: dict = {}
    retain_until = entry.get("retain_until")
    if entry.get("lock_mode") and retain_until:
        until = datetime.fromisoformat(retain_until)
        if until > now:   # a date in the past is refused by the server, and protects nothing
            extra.update(ObjectLockMode=entry["lock_mode"], ObjectLockRetainUntilDate=until)
    if entry.get("legal_hold"):
        extra["ObjectLockLegalHoldStatus"] = "ON"
    return extra


def put_back(entry: dict, bucket: str, blobs: Path, now: datetime) -> dict:
    """Write one version (or delete marker) as the newest of its key; returns the entry with its
    new version id on this server (S3 assigns version ids; they cannot be carried over)."""
    key = entry["key"]
    if entry["delete_marker"]:
        with translated_errors(f"write the delete marker of {key} in {bucket}"):
            answer = client().delete_object(Bucket=bucket, Key=key)
        return {**entry, "restored_version_id": answer.get("VersionId")}
    extra: dict = {"Metadata": entry.get("metadata") or {}}
    if entry.get("content_type"):
        extra["ContentType"] = entry["content_type"]
    if entry.get("sse") == "AES256":
        extra["ServerSideEncryption"] = "AES256"
    lock = _lock_arguments(entry, now)
    extra.update(lock)
    path = blob_path(blobs, entry["sha256"])
    with translated_errors(f"restore {key} to {bucket}"):
        if entry["size"] <= SINGLE_PUT_LIMIT:
            with open(path, "rb") as body:
                if lock:   # Object Lock writes must carry a checksum (Content-MD5 or SHA-256)
                    extra["ChecksumAlgorithm"] = "SHA256"
                answer = client().put_object(Bucket=bucket, Key=key, Body=body, **extra)
            version_id = answer.get("VersionId")
        else:
            client().upload_file(str(path), bucket, key, ExtraArgs=extra,
                                 Config=bounded_transfer_config())
            version_id = client().head_object(Bucket=bucket, Key=key).get("VersionId")
    return {**entry, "restored_version_id": version_id,
            "lock_restored": bool(lock.get("ObjectLockMode")),
            "hold_restored": "ObjectLockLegalHoldStatus" in lock}


def restore_bucket(groups: Iterable[list[dict]], bucket: str, blobs: Path) -> Iterator[dict]:
    """Put every key's versions (from crosscheck.key_groups: one key at a time, oldest first)
    back into `bucket`: keys in parallel, each key's versions one after the other, so the server
    numbers and orders them as the original did. Yields each entry as written."""
    now = datetime.now(timezone.utc)

    def one_key(versions: list[dict]) -> list[dict]:
        return [put_back(entry, bucket, blobs, now) for entry in versions]

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        for written in bounded_map(pool, one_key, groups):
            yield from written


def read_back(rule: BucketRule, spool_dir: Path) -> Iterator[tuple[str, list[dict]]]:
    """What the server now holds, a key at a time in order: (key, its versions oldest first,
    each hashed by reading it)."""
    def digest(entry: dict) -> dict:
        if entry["delete_marker"]:
            return entry
        params = {"Bucket": entry["bucket"], "Key": entry["key"]}
        if entry["version_id"]:
            params["VersionId"] = entry["version_id"]
        with translated_errors(f"read back {entry['key']} from {entry['bucket']}"):
            answer = client().get_object(**params)
            body = answer["Body"]
            hashing = HashingStream(body)
            hashing.drain(CHUNK)
        return {**entry, "size": hashing.size, "sha256": hashing.sha256,
                "lock_mode": answer.get("ObjectLockMode"),
                "retain_until": _iso(answer.get("ObjectLockRetainUntilDate")),
                "legal_hold": answer.get("ObjectLockLegalHoldStatus") == "ON"}

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        yield from bounded_map(pool, lambda versions: (versions[0]["key"],
                                                       [digest(e) for e in versions]),
                               listed_keys(rule, spool_dir))


def bucket_is_empty(rule: BucketRule) -> bool:
    """No object, version or delete marker in the bucket (True for a bucket that is not there)."""
    if not bucket_exists(rule.name):
        return True
    with translated_errors(f"look into {rule.name}"):
        answer = client().list_object_versions(Bucket=rule.name, MaxKeys=1)
    return not (answer.get("Versions") or answer.get("DeleteMarkers"))
