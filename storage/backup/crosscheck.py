"""The cross-check of a set against the database: every object the ledger says is live must be in
the set, and each SHA-256 the database records for it (the ledger's and those of
storage/digests.py: FASTQs, outputs, report PDFs, archives, audit exports) must be the SHA-256 of
the version that was current at the snapshot.

Neither side is held in memory: what the database records is spooled to disk sorted
(storage/backup/spool.py), the set's versions come one key at a time in (bucket, key) order, and
the two are walked side by side (a sorted merge). Only the findings are kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from itertools import groupby
from pathlib import Path
from typing import Iterable, Iterator

from storage.backup.database import BackupError
from storage.backup.spool import SortedSpool
from storage.digests import recorded_digests
from storage.models import StoredObject

LEDGER, DIGEST = 0, 1       # a spooled row's kind: a live ledger row sorts before its digests


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


def spool_recorded(parent: Path) -> SortedSpool:
    """What the database says is stored, read in the caller's transaction (the dump's snapshot
    during a backup) into a spool under `parent`: [bucket, key, LEDGER, sha256, ""] per live
    ledger row (through a server-side cursor) and [bucket, key, DIGEST, sha256, what] per
    recorded digest."""
    spool = SortedSpool(parent)
    try:
        spool.extend([bucket, key, LEDGER, sha256 or "", ""] for bucket, key, sha256 in
                     StoredObject.objects.filter(deleted_at__isnull=True)
                     .values_list("bucket", "key", "sha256").iterator(chunk_size=10_000))
        spool.extend([bucket, key, DIGEST, sha256, what]
                     for bucket, key, sha256, what in recorded_digests() if sha256)
    except BaseException:
        spool.close()
        raise
    return spool


def version_known_at(versions: list[dict], when: datetime | None) -> dict | None:
    """Of one key's versions (oldest first), the one the database knew at `when`: the newest
    stored no later than it (the oldest when every one is newer); None when only delete markers
    are left."""
    stored = [v for v in versions if not v["delete_marker"]]
    if not stored:
        return None
    if when is not None:
        earlier = [v for v in stored if datetime.fromisoformat(v["last_modified"]) <= when]
        if earlier:
            return earlier[-1]
    return stored[0] if when is not None else stored[-1]


def key_groups(entries: Iterable[dict], what: str) -> Iterator[tuple[tuple[str, str], list[dict]]]:
    """((bucket, key), its versions oldest first) from entries in (bucket, key, position) order;
    a BackupError when they are not in that order (the merge would give wrong answers)."""
    previous: tuple[str, str] | None = None
    for named, versions in groupby(entries, key=lambda e: (e["bucket"], e["key"])):
        if previous is not None and named <= previous:
            raise BackupError(f"{what} is not in (bucket, key) order at {named[0]}/{named[1]} "
                              f"(after {previous[0]}/{previous[1]})")
        previous = named
        yield named, sorted(versions, key=lambda e: e["position"])


def cross_check(groups: Iterable[tuple[tuple[str, str], list[dict]]], recorded: SortedSpool, *,
                snapshot_at: datetime | None) -> CrossCheck:
    """Walk the set's keys (from `key_groups`) beside the spooled records, both in (bucket, key)
    order."""
    result = CrossCheck()
    held = iter(groups)
    current = next(held, None)
    for named, rows in groupby(recorded.sorted(), key=lambda row: (row[0], row[1])):
        rows = list(rows)
        if rows[0][2] != LEDGER:
            continue        # a digest of an object the ledger does not hold live
        result.live_objects += 1
        while current is not None and current[0] < named:
            current = next(held, None)
        versions = current[1] if current is not None and current[0] == named else []
        version = version_known_at(versions, snapshot_at)
        expected = [(sha256, "ledger" if kind == LEDGER else what)
                    for _b, _k, kind, sha256, what in rows if sha256]
        label = f"{named[0]}/{named[1]}"
        if version is None:
            (result.missing if expected else result.pending).append(label)
            continue
        for sha256, what in expected:
            result.digests_checked += 1
            if version["sha256"] != sha256:
                result.mismatched.append(f"{label} ({what}: database {sha256[:12]}..., stored "
                                         f"{version['sha256'][:12]}...)")
    for _rest in held:      # read to the end, so that a list out of order is refused, not merged
        pass
    return result
