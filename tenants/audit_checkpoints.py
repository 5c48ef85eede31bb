"""Checkpoints of the audit chain outside the database: small JSON objects in the logs bucket,
each under S3 Object Lock retention, so that nobody with the database (or the audit key) can cut
the newest events off or recompute the chain without the checkpoints saying so.

A checkpoint names the last event it covers, that event's chain value, how many events the chain
held up to it, when it was written and under which audit key the event was chained. The object key
carries the id and the value too (`audit/checkpoints/{id:020d}-{value}.json`), so that the list
of checkpoints is one listing and never depends on an object that could have been replaced.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

from django.conf import settings
from django.utils import timezone

from storage import bucket_config, s3, versions
from storage.buckets import bucket_name
from storage.keys import AUDIT_CHECKPOINT_PREFIX, audit_checkpoint_key, audit_checkpoint_of
from tenants.audit import ChainWalk, walk_chain
from tenants.models import AuditEvent

FORMAT = "wes-audit-checkpoint/1"
# Checkpoint versions written within this many days are read in full at every check (contents,
# retention); older ones are held against the log by their names, which a version cannot change:
# 500 versions take about 3 s to read, and a lab writes about 700 a year.
READ_IN_FULL_DAYS = 31


@dataclass(frozen=True)
class Checkpoint:
    key: str
    version_id: str
    last_id: int
    chain_value: str
    count: int | None = None
    written_at: str = ""
    key_id: str | None = None
    retain_until: datetime | None = None          # what the portal asked for when writing it
    lock_mode: str | None = None                  # what the server holds now
    server_retain_until: datetime | None = None
    problem: str = ""                             # the body could not be read or does not agree
    read: bool = True                             # False: known by its name only (an old one)

    def describe(self) -> str:
        when = f" written {self.written_at}" if self.written_at else ""
        return f"checkpoint of event #{self.last_id}{when}"


@dataclass(frozen=True)
class Finding:
    """Something the checkpoints say about the chain. `kind`: recomputed, truncated, removed,
    count, unprotected, retention_shortened, unreadable, unlocked_bucket, storage."""

    kind: str
    message: str
    event_id: int | None = None
    checkpoint: str = ""


@dataclass
class CheckpointCheck:
    checkpoints: int = 0
    latest: Checkpoint | None = None
    past_retention: int = 0
    findings: list[Finding] | None = None

    @property
    def ok(self) -> bool:
        return not self.findings


def checkpoint_list() -> list[tuple[str, str, int, str, datetime]]:
    """(key, version id, last id, chain value, stored at) of every stored checkpoint version,
    oldest event first. Listing versions, not objects: a delete marker in front of a checkpoint
    hides nothing from this check, and an overwritten checkpoint is checked in every version."""
    found = []
    for version in versions.list_versions(bucket_name("logs"), AUDIT_CHECKPOINT_PREFIX):
        named = audit_checkpoint_of(version["Key"])
        if named:
            found.append((version["Key"], version["VersionId"], *named,
                          version["LastModified"]))
    return sorted(found, key=lambda item: item[2])


def checkpoint_read(key: str, version_id: str, last_id: int, chain_value: str,
                    stored_at: datetime | None = None) -> Checkpoint:
    stored = versions.get_retained_version(bucket_name("logs"), key, version_id)
    base = Checkpoint(key, version_id, last_id, chain_value, lock_mode=stored["lock_mode"],
                      server_retain_until=stored["retain_until"])
    try:
        body = json.loads(stored["body"])
        asked = datetime.fromisoformat(body["retain_until"])
        fields = dict(count=int(body["count"]), written_at=str(body["written_at"]),
                      key_id=body.get("key_id"), retain_until=asked)
        agrees = (body.get("format") == FORMAT and body["last_id"] == last_id
                  and body["chain_value"] == chain_value)
    except (ValueError, KeyError, TypeError):
        return Checkpoint(**{**base.__dict__, "problem": "its contents are not a checkpoint"})
    problem = "" if agrees else "its contents do not match its name"
    return Checkpoint(**{**base.__dict__, **fields, "problem": problem})


def checkpoints_read() -> list[Checkpoint]:
    """Every checkpoint version: the recent ones (and the newest) with their contents and the
    retention the server holds for them, read in parallel; older ones by name."""
    listed = checkpoint_list()
    recent = timezone.now() - timedelta(days=READ_IN_FULL_DAYS)

    def read(item) -> Checkpoint:
        key, version_id, last_id, chain_value, stored_at = item
        if stored_at < recent and item is not listed[-1]:
            return Checkpoint(key, version_id, last_id, chain_value, read=False)
        return checkpoint_read(*item)

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(read, listed))


def checkpoint_latest() -> Checkpoint | None:
    listed = checkpoint_list()
    return checkpoint_read(*listed[-1]) if listed else None


def checkpoint_write(*, last_id: int, chain_value: str, count: int, key_id: str | None,
                     last_event_at: datetime | None) -> Checkpoint:
    """Write one checkpoint under retention for AUDIT_CHECKPOINT_RETENTION_DAYS."""
    now = timezone.now().astimezone(dt_timezone.utc).replace(microsecond=0)
    retain_until = now + timedelta(days=settings.AUDIT_CHECKPOINT_RETENTION_DAYS)
    body = {"format": FORMAT, "last_id": last_id, "chain_value": chain_value, "count": count,
            "key_id": key_id, "written_at": now.isoformat(),
            "last_event_at": last_event_at.astimezone(dt_timezone.utc).isoformat()
            if last_event_at else None,
            "lock_mode": settings.AUDIT_CHECKPOINT_LOCK_MODE,
            "retain_until": retain_until.isoformat()}
    key = audit_checkpoint_key(last_id, chain_value)
    version = versions.put_retained_bytes(bucket_name("logs"), key,
                                    json.dumps(body, sort_keys=True, indent=1).encode(),
                                    mode=settings.AUDIT_CHECKPOINT_LOCK_MODE,
                                    retain_until=retain_until)
    return Checkpoint(key, version, last_id, chain_value, count, body["written_at"], key_id,
                      retain_until, settings.AUDIT_CHECKPOINT_LOCK_MODE, retain_until)


@dataclass
class CheckpointOutcome:
    written: Checkpoint | None = None
    skipped: str = ""                  # why nothing was written (nothing new, or a problem)
    problem: bool = False


def audit_checkpoint(*, walk: ChainWalk | None = None,
                     latest: Checkpoint | None = None) -> CheckpointOutcome:
    """Checkpoint the chain's newest event, after checking that the chain still runs, intact,
    from the newest checkpoint to it: a checkpoint never vouches for a chain that contradicts
    the one before. `walk` is a whole walk just done (the verification's); without it only the
    events after the newest checkpoint are read."""
    if walk is None:
        latest = checkpoint_latest()
        if latest is not None:
            row = (AuditEvent.objects.filter(pk=latest.last_id)
                   .values_list("hash", flat=True).first())
            if row != latest.chain_value:
                what = "is missing" if row is None else "no longer has the value it had"
                return CheckpointOutcome(skipped=f"not written: event #{latest.last_id} {what} "
                                                 f"({latest.describe()}); run verify_audit",
                                         problem=True)
            walk = walk_chain(after=(latest.last_id, latest.chain_value, latest.count or 0,
                                     latest.key_id))
        else:
            walk = walk_chain()
    problem = walk.first_problem()
    if problem is not None:
        return CheckpointOutcome(skipped=f"not written: the chain is not intact at "
                                         f"{problem.describe()}", problem=True)
    if walk.last_id is None or (latest is not None and walk.last_id <= latest.last_id):
        return CheckpointOutcome(skipped="nothing new since the last checkpoint")
    return CheckpointOutcome(written=checkpoint_write(
        last_id=walk.last_id, chain_value=walk.last_hash, count=walk.last_position,
        key_id=walk.last_key_id, last_event_at=walk.last_created_at))


def checkpoints_check(walk: ChainWalk) -> CheckpointCheck:
    """Hold every stored checkpoint against the chain just walked (`walk`, with the checkpoint
    ids watched) and against the database, and report what does not hold."""
    result = CheckpointCheck(findings=[])
    add = result.findings.append
    logs = bucket_name("logs")
    try:
        if not bucket_config.get_object_lock_enabled(logs):
            add(Finding("unlocked_bucket", f"the logs bucket {logs} has Object Lock off: "
                                           "checkpoints cannot be retained (run setup_storage)"))
        checkpoints = checkpoints_read()
    except s3.StorageError as exc:
        add(Finding("storage", f"the checkpoints could not be read: {exc}"))
        return result
    result.checkpoints = len(checkpoints)
    result.latest = checkpoints[-1] if checkpoints else None
    unseen = {c.last_id for c in checkpoints} - walk.watched.keys()
    rows = dict(AuditEvent.objects.filter(pk__in=unseen).values_list("id", "hash"))
    newest_id = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first()
    now = timezone.now()
    for cp in checkpoints:
        name = cp.describe()
        if cp.problem:
            add(Finding("unreadable", f"{name} ({cp.key}): {cp.problem}", cp.last_id, cp.key))
        if cp.last_id in walk.watched:
            position, value = walk.watched[cp.last_id]
        else:
            position, value = None, rows.get(cp.last_id)
        if value is None:
            if newest_id is None or newest_id < cp.last_id:
                add(Finding("truncated", f"the log ends at event #{newest_id or 0}, but {name} "
                                         f"covered up to #{cp.last_id}: the newest events were "
                                         "removed", cp.last_id, cp.key))
            else:
                add(Finding("removed", f"event #{cp.last_id} of {name} is missing from the log "
                                       f"(which goes on to #{newest_id}): events were removed, "
                                       "or cut off and the log written on after them",
                            cp.last_id, cp.key))
        elif value != cp.chain_value:
            add(Finding("recomputed", f"event #{cp.last_id} no longer has the chain value of "
                                      f"{name}: the chain was recomputed from it or before it",
                        cp.last_id, cp.key))
        elif position is not None and cp.count is not None and position != cp.count:
            add(Finding("count", f"{name} counted {cp.count} events up to #{cp.last_id}, the log "
                                 f"now has {position}: events were removed or inserted",
                        cp.last_id, cp.key))
        if not cp.read:
            continue
        if cp.lock_mode is None or cp.server_retain_until is None:
            add(Finding("unprotected", f"{name} ({cp.key}) has no Object Lock retention: it "
                                       "could be deleted or overwritten", cp.last_id, cp.key))
        elif cp.retain_until and cp.server_retain_until < cp.retain_until - timedelta(seconds=1):
            add(Finding("retention_shortened",
                        f"{name} was written to be retained until {cp.retain_until:%Y-%m-%d}, "
                        f"the server now keeps it only until {cp.server_retain_until:%Y-%m-%d}",
                        cp.last_id, cp.key))
        elif cp.server_retain_until <= now:
            result.past_retention += 1
    return result


def watch_ids() -> frozenset[int]:
    """The event ids the stored checkpoints name (empty when storage cannot be read: the check
    itself then reports that)."""
    try:
        return frozenset(item[2] for item in checkpoint_list())
    except s3.StorageError:
        return frozenset()
