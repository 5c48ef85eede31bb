"""A restore, step by step, each step timed: into an empty database and an S3 server with no
objects in the portal's buckets: pg_restore, `setup_storage`'s provisioning, every version put
back in order with its retention and legal hold, then every version read back and hashed, the
restored database's records held against the set, and the audit chain checked (`verify_audit
--no-checkpoint`). Last, the restore is reported to the backup listeners
(storage/backup/events.py): tenants writes it into the restored database's audit log, after the
check, so the check describes the chain as the set held it.

The set's objects.jsonl is read a key at a time (a pass per bucket), never whole; both formats
are read (storage/backup/manifest.py).
"""

from __future__ import annotations

import io
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Iterable, Iterator

from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection

from storage import provisioning
from storage.backup import crosscheck, database, events, manifest, objects
from storage.backup.database import BackupError
from storage.backup.run import Timings, set_keys
from storage.backup.target import Target
from storage.buckets import REGISTRY
from storage.checksums import sha256_file


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
    notes: tuple[str, ...] = ()       # what the listeners said (an event they could not write)

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
                   check_audit: bool = True, via: str = "command") -> RestoreResult:
    target = Target.parse(target_spec)
    database.require_postgresql()
    timings = Timings()
    with timings.step("fetch"):
        set_dir, staging = target.fetch(name)
    try:
        return _restore_from(set_dir, timings, log=log, check_audit=check_audit,
                             facts={"target": target.public, "via": via})
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)


def _restore_from(set_dir: Path, timings: Timings, *, log, check_audit: bool,
                  facts: dict) -> RestoreResult:
    described = manifest.read_manifest(set_dir)
    dump_path = set_dir / manifest.DUMP
    if sha256_file(dump_path) != described["database"]["sha256"]:
        raise BackupError(f"{dump_path} does not have the SHA-256 the manifest records: the set "
                          "is damaged")
    manifest.check_objects_file(set_dir, described)
    if not database.database_is_empty():
        raise BackupError("the database already has tables; restore only into an empty database "
                          "(createdb a new one, point DATABASE_URL at it)")
    _refuse_unless_empty_storage(described["buckets"])
    with timings.step("database restore"):
        database.restore(dump_path)
    log(f"database restored from {described['name']} (snapshot {described['snapshot_at']})")
    name, via = described["name"], facts.pop("via")
    facts.update(format=described["format"], snapshot_at=described["snapshot_at"],
                 database=connection.settings_dict["NAME"],
                 database_sha256=described["database"]["sha256"],
                 buckets={rule.role: rule.name for rule in REGISTRY
                          if rule.role in described["buckets"]})
    # From here on the restored database exists, so the restore is reported into it, failed or not.
    try:
        result = _objects_and_checks(set_dir, described, timings, log=log,
                                     check_audit=check_audit)
    except Exception as exc:
        facts.update(error=str(exc)[:1000], timings=timings.steps)
        events.report_failure(events.BackupEvent(events.RESTORE, events.FAILED, name, via, facts))
        raise
    facts.update(versions=result.versions, bytes=result.bytes, locks=result.locks,
                 holds=result.holds, audit_checked=check_audit, problems=len(result.problems),
                 first_problems=result.problems[:10], timings=timings.steps)
    result.notes = tuple(events.report_backup_event(events.BackupEvent(
        events.RESTORE, events.FINISHED if result.ok else events.FAILED, name, via, facts)))
    return result


def _objects_and_checks(set_dir: Path, described: dict, timings: Timings, *, log,
                        check_audit: bool) -> RestoreResult:
    with timings.step("provision"):
        report = provisioning.apply()
    log(f"buckets provisioned ({len(report.changes)} change(s))")
    blobs = set_dir / manifest.BLOBS
    result = RestoreResult(described["name"], 0, 0, [], timings)
    with timings.step("objects"):
        for rule in sorted(REGISTRY, key=lambda r: r.name):
            before = result.versions
            groups = (versions for _named, versions in crosscheck.key_groups(
                manifest.objects_of(set_dir, rule.name), f"{manifest.OBJECTS} ({rule.name})"))
            for written in objects.restore_bucket(groups, rule.name, blobs):
                if not written["delete_marker"]:
                    result.versions += 1
                    result.bytes += written["size"]
                result.locks += bool(written.get("lock_restored"))
                result.holds += bool(written.get("hold_restored"))
            log(f"{rule.name}: {result.versions - before} version(s) restored")
    spool_dir = Path(settings.BACKUP_STAGING_DIR or tempfile.gettempdir())
    spool_dir.mkdir(parents=True, exist_ok=True)
    with timings.step("verify objects"):
        result.problems += _compare(set_dir, spool_dir)
    with timings.step("verify database"):
        with crosscheck.spool_recorded(spool_dir) as recorded:
            check = crosscheck.cross_check(
                set_keys(set_dir), recorded,
                snapshot_at=datetime.fromisoformat(described["snapshot_at"]))
        result.problems += check.problems()
    if check_audit:
        with timings.step("verify audit"):
            out = io.StringIO()
            try:
                call_command("verify_audit", "--no-checkpoint", stdout=out)
                result.audit = out.getvalue().strip()
            except CommandError as exc:
                result.problems.append(f"verify_audit: {exc}")
                result.audit = str(exc)
    return result


def _side_by_side(wanted: Iterable[tuple[str, list]], present: Iterable[tuple[str, list]]
                  ) -> Iterator[tuple[str, list, list]]:
    """(key, the set's versions, the server's) from two streams in key order."""
    wanted, present = iter(wanted), iter(present)
    want, have = next(wanted, None), next(present, None)
    while want is not None or have is not None:
        if have is None or (want is not None and want[0] < have[0]):
            yield want[0], want[1], []
            want = next(wanted, None)
        elif want is None or have[0] < want[0]:
            yield have[0], [], have[1]
            have = next(present, None)
        else:
            yield want[0], want[1], have[1]
            want, have = next(wanted, None), next(present, None)


def _compare(set_dir: Path, spool_dir: Path) -> list[str]:
    """Every key's versions on the server now, read back and hashed, against the set, in order;
    retention and legal holds as the set recorded them (where still in force)."""
    problems = []
    now = datetime.now().astimezone()
    for rule in sorted(REGISTRY, key=lambda r: r.name):
        wanted = ((key, versions) for (_bucket, key), versions in crosscheck.key_groups(
            manifest.objects_of(set_dir, rule.name), f"{manifest.OBJECTS} ({rule.name})"))
        for key, want, have in _side_by_side(wanted, objects.read_back(rule, spool_dir)):
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
