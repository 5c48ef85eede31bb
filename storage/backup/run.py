"""A backup, step by step, each step timed (the restore is storage/backup/restore.py).

The database is dumped first, in a snapshot the portal keeps open while it also reads what the
database says is stored (the ledger, the recorded SHA-256s) into a sorted spool on disk; then
every bucket's versions are copied, each line of objects.jsonl written as its version is copied,
so memory does not grow with the number of objects. Objects are written once and never changed
in place (new content is a new key or a new version, and versioned buckets keep the old ones),
so a copy taken after the dump holds every object the dump refers to; the cross-check proves it
for this set. The set's outcome is reported to the backup listeners (storage/backup/events.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from common.sizes import format_size
from storage.backup import crosscheck, database, events, manifest, objects
from storage.backup.target import Target, new_set_name
from storage.buckets import REGISTRY
from storage.checksums import sha256_file


@dataclass
class Timings:
    steps: dict[str, float] = field(default_factory=dict)

    def step(self, name: str):
        timings = self

        class _Step:
            def __enter__(self):
                self.started = time.monotonic()

            def __exit__(self, *exc):
                timings.steps[name] = round(time.monotonic() - self.started, 3)

        return _Step()

    @property
    def total(self) -> float:
        return round(sum(self.steps.values()), 3)


@dataclass
class BackupResult:
    name: str
    where: str
    versions: int
    bytes: int
    check: crosscheck.CrossCheck
    timings: Timings
    pruned: list[str]

    @property
    def ok(self) -> bool:
        return self.check.ok


def backup_create(target_spec: str, *, keep: int | None = None, log=lambda text: None,
                  via: str = "command") -> BackupResult:
    """Write one set to the target and prune; every set written or attempted is reported to
    the backup listeners (the audit log: a set is an export of every lab's data), with its
    outcome, whether it finished or failed."""
    target = Target.parse(target_spec)
    database.require_postgresql()
    timings = Timings()
    name = new_set_name()
    facts: dict = {"target": target.public, "where": target.public_where(name)}
    try:
        result = _backup_to(target, name, keep, timings, log, facts)
    except Exception as exc:
        facts.update(error=str(exc)[:1000], timings=timings.steps)
        events.report_failure(events.BackupEvent(events.BACKUP, events.FAILED, name, via, facts))
        raise
    events.report_backup_event(events.BackupEvent(events.BACKUP, events.FINISHED, name, via, {
        **facts, "cross_check": {"ok": result.check.ok, "live_objects": result.check.live_objects,
                                 "digests_checked": result.check.digests_checked,
                                 "missing": len(result.check.missing),
                                 "mismatched": len(result.check.mismatched),
                                 "pending": len(result.check.pending)},
        "pruned": result.pruned,
        "timings": timings.steps}))
    return result


def _backup_to(target: Target, name: str, keep: int | None, timings: Timings, log,
               facts: dict) -> BackupResult:
    set_dir = target.staging() / name
    set_dir.mkdir(mode=0o700)       # patient data: readable by the portal's user only
    dump_path = set_dir / manifest.DUMP
    with timings.step("database dump"):
        with database.snapshot() as (snapshot_id, snapshot_at):
            database.dump(dump_path, snapshot_id=snapshot_id)
            recorded = crosscheck.spool_recorded(set_dir)
    dump_sha256 = sha256_file(dump_path)
    facts.update(snapshot_at=snapshot_at.isoformat(), database_sha256=dump_sha256,
                 database_size=dump_path.stat().st_size)
    try:
        log(f"database dumped ({format_size(dump_path.stat().st_size)}) at "
            f"{snapshot_at:%Y-%m-%d %H:%M:%S} UTC; {recorded.count} record(s) of stored objects")
        writer = manifest.ObjectsWriter(set_dir)
        try:
            with timings.step("objects"):
                for rule in sorted(REGISTRY, key=lambda r: r.name):
                    before = writer.versions
                    for entry in objects.copy_bucket(rule, set_dir / manifest.BLOBS, set_dir):
                        writer.write(entry)
                        facts.update(versions=writer.versions, bytes=writer.bytes)
                    log(f"{rule.name}: {writer.versions - before} version(s) copied")
        finally:
            described = writer.close()
        with timings.step("cross-check"):
            check = crosscheck.cross_check(set_keys(set_dir), recorded, snapshot_at=snapshot_at)
    finally:
        recorded.close()
    facts.update(delete_markers=writer.delete_markers, blobs=manifest.count_blobs(set_dir),
                 objects_sha256=described["sha256"])
    manifest.write_manifest(set_dir, {
        "name": name, "snapshot_at": snapshot_at.isoformat(),
        "database": {"file": manifest.DUMP, "size": dump_path.stat().st_size,
                     "sha256": dump_sha256, "format": "pg_dump -Fc"},
        "objects": described,
        "buckets": {rule.role: {"name": rule.name, "versioned": rule.versioned}
                    for rule in REGISTRY},
        "versions": writer.versions, "delete_markers": writer.delete_markers,
        "bytes": writer.bytes, "blobs": facts["blobs"],
        "cross_check": check.as_dict(), "timings": timings.steps})
    with timings.step("send"):
        target.send(set_dir)
    pruned: list[str] = []
    if keep is not None and check.ok:
        with timings.step("prune"):
            pruned = target.prune(keep)
    return BackupResult(name, target.where(name), writer.versions, writer.bytes, check, timings,
                        pruned)


def set_keys(set_dir: Path) -> Iterator[tuple[tuple[str, str], list[dict]]]:
    """The set's keys with their versions, in (bucket, key) order: a pass over objects.jsonl
    per bucket, so that a format 1 set (lines in registry order) reads the same way."""
    for rule in sorted(REGISTRY, key=lambda r: r.name):
        yield from crosscheck.key_groups(manifest.objects_of(set_dir, rule.name),
                                         f"{manifest.OBJECTS} ({rule.name})")
