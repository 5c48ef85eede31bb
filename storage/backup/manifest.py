"""A set's description: `objects.jsonl`, one line per stored version, written as the versions are
copied; and `manifest.json`, written last (a set without it is incomplete).

`objects.jsonl`: role, bucket, key, version id, position among the key's versions, size, SHA-256,
type, metadata, encryption, retention, legal hold. Since format 2 its lines are in (bucket,
key, position) order and `manifest.json` records their count and the file's SHA-256, so a
restore reads it one key at a time and knows it whole. Format 1 sets (earlier releases) hold the
same lines in bucket-registry order and no file digest; they are still restored (their line
count is checked against the manifest's totals).

`manifest.json`: when the snapshot was taken, the dump's SHA-256, each bucket's role and name,
totals, timings and the cross-check's findings (storage/backup/crosscheck.py).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Iterator

from storage.backup.database import BackupError

FORMAT = "wes-backup/2"
READABLE = ("wes-backup/1", FORMAT)
MANIFEST = "manifest.json"
OBJECTS = "objects.jsonl"
DUMP = "database.dump"
BLOBS = "blobs"


class ObjectsWriter:
    """`objects.jsonl`, a line at a time, with the totals the manifest records."""

    def __init__(self, set_dir: Path):
        self.path = set_dir / OBJECTS
        self.out = open(self.path, "wb")
        self.digest = hashlib.sha256()
        self.lines = self.versions = self.delete_markers = self.bytes = 0

    def write(self, entry: dict) -> None:
        line = (json.dumps(entry, sort_keys=True) + "\n").encode()
        self.out.write(line)
        self.digest.update(line)
        self.lines += 1
        if entry["delete_marker"]:
            self.delete_markers += 1
        else:
            self.versions += 1
            self.bytes += entry["size"]

    def close(self) -> dict:
        """Closes the file; what the manifest says of it."""
        self.out.close()
        return {"file": OBJECTS, "lines": self.lines, "sha256": self.digest.hexdigest(),
                "order": "bucket, key, position"}


def objects_of(set_dir: Path, bucket: str | None = None) -> Iterator[dict]:
    """The set's entries, a line at a time (only `bucket`'s when given), in the file's order."""
    # Lines are json.dumps(sort_keys=True) of entries, so a bucket's lines contain this text;
    # testing for it first skips parsing the other buckets' lines.
    named = f'"bucket": {json.dumps(bucket)}' if bucket is not None else ""
    with open(set_dir / OBJECTS, encoding="utf-8") as lines:
        for line in lines:
            if not line.strip() or named not in line:
                continue
            entry = json.loads(line)
            if bucket is None or entry["bucket"] == bucket:
                yield entry


def check_objects_file(set_dir: Path, described: dict) -> None:
    """`objects.jsonl` is the file the manifest describes: its SHA-256 (format 2), or (format 1,
    which recorded none) its number of lines."""
    path = set_dir / OBJECTS
    if not path.exists():
        raise BackupError(f"{set_dir} has no {OBJECTS}: the set is damaged")
    digest, lines = hashlib.sha256(), 0
    with open(path, "rb") as f:
        for line in f:
            digest.update(line)
            lines += bool(line.strip())
    recorded = described.get("objects")
    if recorded is not None:
        if digest.hexdigest() != recorded["sha256"]:
            raise BackupError(f"{path} does not have the SHA-256 the manifest records: the set "
                              "is damaged")
    elif lines != described["versions"] + described["delete_markers"]:
        raise BackupError(f"{path} has {lines} line(s), the manifest counts "
                          f"{described['versions'] + described['delete_markers']}: the set is "
                          "damaged")


def count_blobs(set_dir: Path) -> int:
    blobs = set_dir / BLOBS
    if not blobs.is_dir():
        return 0
    return sum(1 for folder in blobs.iterdir() if folder.is_dir()
               for f in folder.iterdir() if not f.name.startswith("."))


def write_manifest(set_dir: Path, manifest: dict) -> None:
    """Written last, through a temporary name: a set with a manifest is complete."""
    partial = set_dir / (MANIFEST + ".partial")
    partial.write_text(json.dumps({"format": FORMAT, **manifest}, indent=1, sort_keys=True))
    partial.replace(set_dir / MANIFEST)


def read_manifest(set_dir: Path) -> dict:
    path = set_dir / MANIFEST
    if not path.exists():
        raise FileNotFoundError(f"{set_dir} has no {MANIFEST}: the set is incomplete (its backup "
                                "did not finish)")
    manifest = json.loads(path.read_text())
    if manifest.get("format") not in READABLE:
        raise ValueError(f"{path} is not a WES Portal backup manifest this release reads "
                         f"({', '.join(READABLE)}; it says {manifest.get('format')!r})")
    return manifest
