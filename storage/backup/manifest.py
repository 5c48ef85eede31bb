"""A set's manifest, and its cross-check with the database.

`manifest.json` (written last: a set without it is incomplete) says when the snapshot was taken,
the dump's SHA-256, each bucket's role and name, totals, timings and the cross-check's findings;
`objects.jsonl` holds one line per stored version: role, bucket, key, version id, position among
the key's versions, size, SHA-256, type, metadata, encryption, retention, legal hold.

The cross-check holds every object the database says is live (the storage ledger) and every
SHA-256 it records (the ledger's and those of storage/digests.py: FASTQs, outputs, report
PDFs, archives, audit exports) against the versions the set holds.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from storage.digests import recorded_digests
from storage.models import StoredObject

FORMAT = "wes-backup/1"
MANIFEST = "manifest.json"
OBJECTS = "objects.jsonl"
DUMP = "database.dump"
BLOBS = "blobs"


@dataclass
class CrossCheck:
    live_objects: int = 0               # ledger rows live at the snapshot
    digests_checked: int = 0            # recorded SHA-256s held against a stored version
    missing: list[str] = field(default_factory=list)      # recorded with a digest, not stored
    pending: list[str] = field(default_factory=list)      # live in the ledger, no digest, not stored
    mismatched: list[str] = field(default_factory=list)   # stored with another SHA-256

    @property
    def ok(self) -> bool:
        return not (self.missing or self.mismatched)

    def as_dict(self) -> dict:
        return {"live_objects": self.live_objects, "digests_checked": self.digests_checked,
                "missing": self.missing, "pending": self.pending, "mismatched": self.mismatched,
                "ok": self.ok}

    def problems(self) -> list[str]:
        return ([f"recorded in the database but not stored: {m}" for m in self.missing]
                + [f"stored with another SHA-256 than the database records: {m}"
                   for m in self.mismatched])


def recorded_objects() -> tuple[list[dict], list[tuple[str, str, str, str]]]:
    """What the database says is stored, read in the caller's transaction (the dump's snapshot
    during a backup): the ledger's live rows, and (bucket, key, sha256, what) from every digest
    source."""
    live = list(StoredObject.objects.filter(deleted_at__isnull=True)
                .values("bucket", "key", "size", "sha256"))
    return live, list(recorded_digests())


def version_known_at(versions: list[dict], when: datetime | None) -> dict | None:
    """The version the database knew at `when`: the newest stored no later than it (the oldest
    when every one is newer); None when only delete markers are left."""
    stored = [v for v in versions if not v["delete_marker"]]
    if not stored:
        return None
    if when is not None:
        earlier = [v for v in stored if datetime.fromisoformat(v["last_modified"]) <= when]
        if earlier:
            return earlier[-1]
    return stored[0] if when is not None else stored[-1]


def cross_check(entries: list[dict], live: list[dict], digests: list, *,
                snapshot_at: datetime | None) -> CrossCheck:
    by_object: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for entry in entries:
        by_object[(entry["bucket"], entry["key"])].append(entry)
    for versions in by_object.values():
        versions.sort(key=lambda e: e["position"])
    result = CrossCheck(live_objects=len(live))
    live_keys = {(row["bucket"], row["key"]) for row in live}
    expected: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    for row in live:
        if row["sha256"]:
            expected[(row["bucket"], row["key"])].append((row["sha256"], "ledger"))
    for bucket, key, sha256, what in digests:
        if sha256 and (bucket, key) in live_keys:
            expected[(bucket, key)].append((sha256, what))
    for bucket, key in sorted(live_keys):
        version = version_known_at(by_object.get((bucket, key), []), snapshot_at)
        named = f"{bucket}/{key}"
        if version is None:
            (result.missing if expected.get((bucket, key)) else result.pending).append(named)
            continue
        for sha256, what in expected.get((bucket, key), []):
            result.digests_checked += 1
            if version["sha256"] != sha256:
                result.mismatched.append(f"{named} ({what}: database {sha256[:12]}..., stored "
                                         f"{version['sha256'][:12]}...)")
    return result


def write_objects(set_dir: Path, entries: list[dict]) -> None:
    with open(set_dir / OBJECTS, "w", encoding="utf-8") as out:
        for entry in entries:
            out.write(json.dumps(entry, sort_keys=True) + "\n")


def read_objects(set_dir: Path) -> list[dict]:
    with open(set_dir / OBJECTS, encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


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
    if manifest.get("format") != FORMAT:
        raise ValueError(f"{path} is not a WES Portal backup manifest ({FORMAT})")
    return manifest
