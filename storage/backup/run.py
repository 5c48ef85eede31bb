"""A backup and a restore, step by step, each step timed.

Backup: the database is dumped first, in a snapshot the portal keeps open while it also reads
what the database says is stored (the ledger, the recorded SHA-256s); then every bucket's
versions are copied. Objects are written once and never changed in place (new content is a new
key or a new version, and versioned buckets keep the old ones), so a copy taken after the dump
holds every object the dump refers to; the cross-check proves it for this set.

Restore: into an empty database and an S3 server with no objects in the portal's buckets:
pg_restore, `setup_storage`'s provisioning, every version put back in order with its retention
and legal hold, then every version read back and hashed, the restored database's records held
against the set, and the audit chain checked (`verify_audit --no-checkpoint`).
"""

from __future__ import annotations

import io
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from django.core.management import CommandError, call_command

from common.sizes import format_size
from storage import provisioning
from storage.backup import database, manifest, objects
from storage.backup.database import BackupError
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
    check: manifest.CrossCheck
    timings: Timings
    pruned: list[str]

    @property
    def ok(self) -> bool:
        return self.check.ok


def backup_create(target_spec: str, *, keep: int | None = None, log=lambda text: None) -> BackupResult:
    target = Target.parse(target_spec)
    database.require_postgresql()
    timings = Timings()
    name = new_set_name()
    set_dir = target.staging() / name
    set_dir.mkdir(mode=0o700)       # patient data: readable by the portal's user only
    dump_path = set_dir / manifest.DUMP
    with timings.step("database dump"):
        with database.snapshot() as (snapshot_id, snapshot_at):
            database.dump(dump_path, snapshot_id=snapshot_id)
            live, digests = manifest.recorded_objects()
    log(f"database dumped ({format_size(dump_path.stat().st_size)}) at {snapshot_at:%Y-%m-%d %H:%M:%S} "
        f"UTC; {len(live)} live object(s) in the ledger")
    entries: list[dict] = []
    with timings.step("objects"):
        for rule in REGISTRY:
            copied = objects.copy_bucket(rule, set_dir / manifest.BLOBS)
            entries.extend(copied)
            log(f"{rule.name}: {sum(not e['delete_marker'] for e in copied)} version(s) copied")
    with timings.step("cross-check"):
        check = manifest.cross_check(entries, live, digests, snapshot_at=snapshot_at)
    stored = [e for e in entries if not e["delete_marker"]]
    total = sum(e["size"] for e in stored)
    manifest.write_objects(set_dir, entries)
    manifest.write_manifest(set_dir, {
        "name": name, "snapshot_at": snapshot_at.isoformat(),
        "database": {"file": manifest.DUMP, "size": dump_path.stat().st_size,
                     "sha256": sha256_file(dump_path), "format": "pg_dump -Fc"},
        "buckets": {rule.role: {"name": rule.name, "versioned": rule.versioned}
                    for rule in REGISTRY},
        "versions": len(stored), "delete_markers": len(entries) - len(stored), "bytes": total,
        "blobs": len({e["sha256"] for e in stored}),
        "cross_check": check.as_dict(), "timings": timings.steps})
    with timings.step("send"):
        target.send(set_dir)
    pruned: list[str] = []
    if keep is not None and check.ok:
        with timings.step("prune"):
            pruned = target.prune(keep)
    return BackupResult(name, target.where(name), len(stored), total, check, timings, pruned)


@dataclass
class RestoreResult:
    name: str
    versions: int
    bytes: int
    problems: list[str]
    timings: Timings
    audit: str = ""
    locks: int = 0
    holds: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def _refuse_unless_empty_storage(wanted: dict) -> None:
    renamed = [f"{rule.setting}={rule.name} (the set's {rule.role} bucket is "
               f"{wanted[rule.role]['name']})" for rule in REGISTRY
               if rule.role in wanted and wanted[rule.role]["name"] != rule.name]
    if renamed:
        raise BackupError("the database records the set's bucket names; configure the same "
                          "names: " + "; ".join(renamed))
    used = [rule.name for rule in REGISTRY if not objects.bucket_is_empty(rule)]
    if used:
        raise BackupError(f"the bucket(s) {', '.join(used)} already hold objects; restore only "
                          "into an empty S3 server (or empty buckets)")


def backup_restore(target_spec: str, name: str = "latest", *, log=lambda text: None,
                   check_audit: bool = True) -> RestoreResult:
    target = Target.parse(target_spec)
    database.require_postgresql()
    timings = Timings()
    with timings.step("fetch"):
        set_dir, staging = target.fetch(name)
    try:
        return _restore_from(set_dir, timings, log=log, check_audit=check_audit)
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)


def _restore_from(set_dir: Path, timings: Timings, *, log, check_audit: bool) -> RestoreResult:
    described = manifest.read_manifest(set_dir)
    dump_path = set_dir / manifest.DUMP
    if sha256_file(dump_path) != described["database"]["sha256"]:
        raise BackupError(f"{dump_path} does not have the SHA-256 the manifest records: the set "
                          "is damaged")
    if not database.database_is_empty():
        raise BackupError("the database already has tables; restore only into an empty database "
                          "(createdb a new one, point DATABASE_URL at it)")
    _refuse_unless_empty_storage(described["buckets"])
    entries = manifest.read_objects(set_dir)
    with timings.step("database restore"):
        database.restore(dump_path)
    log(f"database restored from {described['name']} (snapshot {described['snapshot_at']})")
    with timings.step("provision"):
        report = provisioning.apply()
    log(f"buckets provisioned ({len(report.changes)} change(s))")
    blobs = set_dir / manifest.BLOBS
    written: list[dict] = []
    with timings.step("objects"):
        for rule in REGISTRY:
            mine = [e for e in entries if e["role"] == rule.role]
            written.extend(objects.restore_bucket(mine, rule.name, blobs))
            log(f"{rule.name}: {sum(not e['delete_marker'] for e in mine)} version(s) restored")
    problems: list[str] = []
    with timings.step("verify objects"):
        problems += _compare(entries)
    with timings.step("verify database"):
        live, digests = manifest.recorded_objects()
        check = manifest.cross_check(entries, live, digests,
                                     snapshot_at=datetime.fromisoformat(described["snapshot_at"]))
        problems += check.problems()
    audit = ""
    if check_audit:
        with timings.step("verify audit"):
            out = io.StringIO()
            try:
                call_command("verify_audit", "--no-checkpoint", stdout=out)
                audit = out.getvalue().strip()
            except CommandError as exc:
                problems.append(f"verify_audit: {exc}")
                audit = str(exc)
    stored = [e for e in entries if not e["delete_marker"]]
    return RestoreResult(described["name"], len(stored), sum(e["size"] for e in stored), problems,
                         timings, audit, locks=sum(bool(w.get("lock_restored")) for w in written),
                         holds=sum(bool(w.get("hold_restored")) for w in written))


def _compare(entries: list[dict]) -> list[str]:
    """Every key's versions on the server now, read back and hashed, against the set, in order;
    retention and legal holds as the set recorded them (where still in force)."""
    problems = []
    now = datetime.now().astimezone()
    for rule in REGISTRY:
        wanted: dict[str, list[dict]] = {}
        for entry in entries:
            if entry["role"] == rule.role:
                wanted.setdefault(entry["key"], []).append(entry)
        present = objects.read_back(rule)
        for key in sorted(set(wanted) | set(present)):
            want = sorted(wanted.get(key, []), key=lambda e: e["position"])
            have = present.get(key, [])
            shape = [(e["delete_marker"], e.get("sha256"), e["size"]) for e in want]
            if shape != [(e["delete_marker"], e.get("sha256"), e["size"]) for e in have]:
                problems.append(f"{rule.name}/{key}: the restored versions differ from the set "
                                f"({len(have)} stored, {len(want)} in the set)")
                continue
            for was, now_is in zip(want, have):
                if was.get("legal_hold") and not now_is.get("legal_hold"):
                    problems.append(f"{rule.name}/{key}: the legal hold was not restored")
                until = was.get("retain_until")
                if was.get("lock_mode") and until and datetime.fromisoformat(until) > now and (
                        now_is.get("lock_mode") != was["lock_mode"]
                        or now_is.get("retain_until") is None
                        or datetime.fromisoformat(now_is["retain_until"])
                        < datetime.fromisoformat(until)):
                    problems.append(f"{rule.name}/{key}: its {was['lock_mode']} retention until "
                                    f"{until} was not restored")
    return problems
