"""Reconciliation: what the storage server lists, against the object ledger.

The portal records every object it writes or deletes (storage.ledger), and usage reports read
that ledger. Once a night this module lists every bucket with ListObjectsV2 (up to 1,000 keys a
request, never a request per object): each lab's prefix `{lab}/` in the buckets keyed by lab
(raw, intermediate, results), a top-level listing there to find keys outside any lab's prefix,
and the whole of the buckets keyed by date or build (archives `{yyyy}/{mm}/{lab}/...`, logs,
reference). It records a snapshot per lab and bucket and flags:

- unrecorded: listed, but no live ledger row (somebody wrote around the portal, or a write was
  not recorded);
- missing: a live ledger row, but not listed (deleted around the portal, or lost);
- size differs: listed with another size than recorded.

Two things are not differences. An object written within the last hour may not have its ledger
row committed yet (publishing uploads first, records after): it is counted as recent. And a ledger
row older than its bucket's expiry rule whose object is gone was removed by the server's
lifecycle rule, as intended: the row is closed at the moment the rule removed it and counted as
expired. The ledger is read as it stood when the run started, so rows written during the run do
not show up as differences.

The comparison does not rely on the order a server lists keys in (SeaweedFS lists `a/b` before
`a-c`; AWS and MinIO list by byte order): the ledger rows of one lab's prefix in one bucket are
held in a dictionary while its listing streams past, so memory is bounded by the largest lab's
objects in one bucket (about 200 bytes a row).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable, Iterable, NamedTuple

from django.db import transaction
from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from jobs.intake.uploads import ABANDONED_UPLOAD_AGE
from jobs.models import LabUsageSnapshot, ReconciliationRun, ReconciliationStatus, SampleFile
from storage import keys, multipart, s3
from storage.buckets import REGISTRY, BucketRule
from storage.credentials import acting_as
from storage.models import StoredObject
from tenants.models import Lab

log = logging.getLogger(__name__)

LAB_PREFIXED = frozenset({"raw", "intermediate", "results"})   # keys start with "{lab}/"
RECENT = timedelta(hours=1)
SAMPLE_SIZE = 20               # keys kept per snapshot and kind of difference
CLOSE_BATCH = 5000


class LedgerEntry(NamedTuple):   # a tuple: built once per object, so it must be cheap
    pk: int
    lab_id: object
    size: int
    created_at: datetime
    deleted_at: datetime | None


@dataclass
class Tally:
    """One lab's figures in one bucket, as the listing streams past."""

    lab_id: object
    rule: BucketRule
    object_count: int = 0
    bytes_listed: int = 0
    ledger_count: int = 0
    ledger_bytes: int = 0
    unrecorded_count: int = 0
    unrecorded_bytes: int = 0
    unrecorded_sample: list = field(default_factory=list)
    missing_count: int = 0
    missing_bytes: int = 0
    missing_sample: list = field(default_factory=list)
    size_mismatch_count: int = 0
    size_mismatch_sample: list = field(default_factory=list)
    expired_count: int = 0
    recent_count: int = 0

    @property
    def differences(self) -> int:
        return self.unrecorded_count + self.missing_count + self.size_mismatch_count

    def unrecorded(self, obj: dict) -> None:
        self.unrecorded_count += 1
        self.unrecorded_bytes += obj["Size"]
        if len(self.unrecorded_sample) < SAMPLE_SIZE:
            self.unrecorded_sample.append({"key": obj["Key"], "size": obj["Size"],
                                           "last_modified": obj["LastModified"].isoformat()})

    def missing(self, key: str, entry: LedgerEntry) -> None:
        self.missing_count += 1
        self.missing_bytes += entry.size
        if len(self.missing_sample) < SAMPLE_SIZE:
            self.missing_sample.append({"key": key, "size": entry.size,
                                        "recorded_at": entry.created_at.isoformat()})

    def size_differs(self, key: str, listed: int, recorded: int) -> None:
        self.size_mismatch_count += 1
        if len(self.size_mismatch_sample) < SAMPLE_SIZE:
            self.size_mismatch_sample.append({"key": key, "listed": listed, "recorded": recorded})

    def snapshot(self, run: ReconciliationRun, taken_at: datetime) -> LabUsageSnapshot:
        status = ReconciliationStatus.DIFFERENCES if self.differences \
            else ReconciliationStatus.MATCHES
        fields = {name: getattr(self, name) for name in (
            "object_count", "bytes_listed", "ledger_count", "ledger_bytes", "unrecorded_count",
            "unrecorded_bytes", "unrecorded_sample", "missing_count", "missing_bytes",
            "missing_sample", "size_mismatch_count", "size_mismatch_sample", "expired_count",
            "recent_count")}
        return LabUsageSnapshot(run=run, lab_id=self.lab_id, bucket=self.rule.name,
                                bucket_role=self.rule.role, taken_at=taken_at, status=status,
                                **fields)


class Reconciliation:
    def __init__(self, run: ReconciliationRun):
        self.run = run
        self.as_of = run.started_at
        self.recent_since = run.started_at - RECENT
        self.labs = {str(lab.pk): lab for lab in Lab.objects.order_by("pk")}
        self.tallies: dict[tuple, Tally] = {}
        self.requests = 0
        # Keys with a multipart upload in progress: their ledger row (the declared size, see
        # jobs/intake/uploads.py) has no listed object yet, which is not a difference.
        self.uploading: dict[str, set[str]] = {}

    def pages(self, bucket: str, prefix: str = "", *, delimiter: str = "") -> Iterable[dict]:
        for page in s3.list_pages(bucket, prefix, delimiter=delimiter):
            self.requests += 1
            yield page

    def ledger(self, rule: BucketRule, **filters) -> dict[str, LedgerEntry]:
        """Live rows as they stood when the run started, by key."""
        rows = (StoredObject.objects.filter(bucket=rule.name, created_at__lte=self.as_of,
                                            **filters)
                .filter(Q(deleted_at__isnull=True) | Q(deleted_at__gt=self.as_of))
                .order_by()
                .values_list("key", "pk", "lab_id", "size", "created_at", "deleted_at"))
        # One lab's rows in one bucket are held anyway (see above), so fetch them in one go.
        return {key: LedgerEntry(pk, lab_id, size, created, deleted)
                for key, pk, lab_id, size, created, deleted in rows}

    def tally(self, lab_id, rule: BucketRule) -> Tally:
        found = self.tallies.get((lab_id, rule.name))
        if found is None:
            found = self.tallies[(lab_id, rule.name)] = Tally(lab_id, rule)
        return found

    def compare(self, rule: BucketRule, pages: Iterable[dict], ledger: dict[str, LedgerEntry],
                owner: Callable[[str], object]) -> None:
        """Stream the listing past the ledger rows of the same keys; `owner(key)` names the lab
        of a key that has no ledger row."""
        for page in pages:
            for obj in page.get("Contents", ()):
                entry = ledger.pop(obj["Key"], None)
                if entry is None:
                    tally = self.tally(owner(obj["Key"]), rule)
                    if obj["LastModified"] >= self.recent_since:
                        tally.recent_count += 1
                    else:
                        tally.unrecorded(obj)
                else:
                    tally = self.tally(entry.lab_id, rule)
                    tally.ledger_count += 1
                    tally.ledger_bytes += entry.size
                    if obj["Size"] != entry.size:
                        tally.size_differs(obj["Key"], obj["Size"], entry.size)
                tally.object_count += 1
                tally.bytes_listed += obj["Size"]
        expired = []
        expire_before = self.as_of - timedelta(days=rule.expire_days) if rule.expire_days \
            else None
        for key, entry in ledger.items():
            tally = self.tally(entry.lab_id, rule)
            if entry.deleted_at is None and expire_before and entry.created_at <= expire_before:
                tally.expired_count += 1          # gone as intended: not in the ledger any more
                expired.append(entry.pk)
                continue
            tally.ledger_count += 1
            tally.ledger_bytes += entry.size
            if entry.deleted_at is None and key in self.uploading.get(rule.name, ()):
                tally.recent_count += 1
            elif entry.deleted_at is None:        # else the portal deleted it during the listing
                tally.missing(key, entry)
        self.close_expired(rule, expired)

    def close_expired(self, rule: BucketRule, pks: list[int]) -> None:
        """The bucket's expiry rule removed these objects: close their rows at the moment it did,
        so that stored bytes in past months stay right."""
        for start in range(0, len(pks), CLOSE_BATCH):
            StoredObject.objects.filter(pk__in=pks[start:start + CLOSE_BATCH],
                                        deleted_at__isnull=True) \
                .update(deleted_at=F("created_at") + timedelta(days=rule.expire_days))

    def scan_lab_bucket(self, rule: BucketRule) -> None:
        """Each lab's prefix, then whatever lies outside every lab's prefix."""
        prefixes = {}
        for lab in self.labs.values():
            prefix = keys.lab_prefix(lab)
            prefixes[prefix] = lab
            self.compare(rule, self.pages(rule.name, prefix),
                         self.ledger(rule, lab=lab, key__startswith=prefix),
                         owner=lambda key, lab_id=lab.pk: lab_id)
        for page in self.pages(rule.name, delimiter="/"):
            top_level = page.get("Contents", [])
            if top_level:
                self.compare(rule, [{"Contents": top_level}],
                             self.ledger(rule, key__in=[obj["Key"] for obj in top_level]),
                             owner=lambda key: None)
            for common in page.get("CommonPrefixes", []):
                stray = common["Prefix"]
                if stray not in prefixes:
                    self.compare(rule, self.pages(rule.name, stray),
                                 self.ledger(rule, key__startswith=stray),
                                 owner=lambda key: None)

    def scan_whole_bucket(self, rule: BucketRule) -> None:
        self.compare(rule, self.pages(rule.name), self.ledger(rule), owner=self.owner_of(rule))

    def owner_of(self, rule: BucketRule) -> Callable[[str], object]:
        if rule.role != "archives":
            return lambda key: None                      # logs and reference: no lab in the key
        labs = self.labs

        def archive_owner(key: str):                     # {yyyy}/{mm}/{lab}/{job}.tar.gz
            parts = key.split("/")
            lab = labs.get(parts[2]) if len(parts) > 3 else None
            return lab.pk if lab else None

        return archive_owner

    def count_unfinished_uploads(self) -> dict:
        counted = {}
        for rule in REGISTRY:
            uploads = multipart.list_unfinished_uploads(rule.name)
            self.uploading[rule.name] = {upload["Key"] for upload in uploads}
            if uploads:
                oldest = min(upload["Initiated"] for upload in uploads)
                counted[rule.name] = {"count": len(uploads), "oldest": oldest.isoformat()}
        return counted

    def scan(self) -> None:
        for rule in REGISTRY:
            if rule.role in LAB_PREFIXED:
                self.scan_lab_bucket(rule)
            else:
                self.scan_whole_bucket(rule)

    def save(self) -> ReconciliationRun:
        run, now = self.run, timezone.now()
        tallies = list(self.tallies.values())
        run.finished_at = now
        run.list_requests = self.requests
        for name in ("unrecorded_count", "missing_count", "size_mismatch_count",
                     "expired_count"):
            setattr(run, name, sum(getattr(t, name) for t in tallies))
        run.objects_listed = sum(t.object_count for t in tallies)
        run.bytes_listed = sum(t.bytes_listed for t in tallies)
        run.status = ReconciliationStatus.DIFFERENCES if run.differences \
            else ReconciliationStatus.MATCHES
        with transaction.atomic():
            LabUsageSnapshot.objects.bulk_create(t.snapshot(run, now) for t in tallies)
            run.save()
        return run


@acting_as("records")
def storage_reconcile(*, trigger: str) -> ReconciliationRun:
    """List every bucket, compare with the ledger, save a snapshot per lab and bucket, and flag
    the differences. A storage failure is recorded on the run (status "failed", the reason in
    `error`) rather than raised, so the admin shows why last night's run has no figures."""
    run = ReconciliationRun.objects.create(started_at=timezone.now(), trigger=trigger)
    reconciliation = Reconciliation(run)
    try:
        run.multipart_uploads = reconciliation.count_unfinished_uploads()
        reconciliation.scan()
    except s3.StorageError as exc:
        log.warning("storage reconciliation failed: %s", exc)
        run.status, run.error = ReconciliationStatus.FAILED, str(exc)
        run.finished_at, run.list_requests = timezone.now(), reconciliation.requests
        run.save()
        return run
    return reconciliation.save()


def latest_run(*, completed: bool = True) -> ReconciliationRun | None:
    runs = ReconciliationRun.objects.order_by("-started_at")
    if completed:
        runs = runs.filter(status__in=[ReconciliationStatus.MATCHES,
                                       ReconciliationStatus.DIFFERENCES])
    return runs.first()


def bucket_totals(run: ReconciliationRun | None) -> list[dict]:
    """Per bucket of the registry, in its order: objects and bytes listed by the run, what the
    ledger held then and holds now (so the page has figures before the first run), and how many
    differences were flagged."""
    sums = {}
    if run is not None:
        sums = {row["bucket"]: row for row in run.snapshots.order_by().values("bucket").annotate(
            objects=Sum("object_count"), bytes=Sum("bytes_listed"), ledger_bytes=Sum("ledger_bytes"),
            unrecorded=Sum("unrecorded_count"), missing=Sum("missing_count"),
            mismatched=Sum("size_mismatch_count"), expired=Sum("expired_count"))}
    live = {row["bucket"]: row for row in StoredObject.objects.filter(deleted_at__isnull=True)
            .order_by().values("bucket").annotate(count=Count("id"), bytes=Sum("size"))}
    rows = []
    for rule in REGISTRY:
        row = sums.get(rule.name, {})
        now = live.get(rule.name, {})
        rows.append({"rule": rule, "objects": row.get("objects") or 0,
                     "ledger_now_objects": now.get("count") or 0,
                     "ledger_now_bytes": now.get("bytes") or 0,
                     "bytes": row.get("bytes") or 0, "ledger_bytes": row.get("ledger_bytes") or 0,
                     "differences": sum(row.get(k) or 0 for k in ("unrecorded", "missing",
                                                                  "mismatched")),
                     "expired": row.get("expired") or 0})
    return rows


def unfinished_uploads(*, now: datetime | None = None) -> list[dict]:
    """Per bucket, the multipart uploads started and neither completed nor aborted (they hold
    storage the listing does not show), oldest first, with the sample file the portal started each
    for. One request per bucket; a bucket that cannot be listed carries the reason instead."""
    now = now or timezone.now()
    buckets = []
    for rule in REGISTRY:
        try:
            uploads = sorted(multipart.list_unfinished_uploads(rule.name),
                             key=lambda u: u["Initiated"])
        except s3.StorageError as exc:
            buckets.append({"rule": rule, "uploads": [], "error": str(exc)})
            continue
        buckets.append({"rule": rule, "error": "", "uploads": [
            {"key": u["Key"], "upload_id": u["UploadId"], "initiated": u["Initiated"],
             "age": now - u["Initiated"], "abandoned": now - u["Initiated"] >= ABANDONED_UPLOAD_AGE}
            for u in uploads]})
    ids = [u["upload_id"] for b in buckets for u in b["uploads"]]
    files = {f.multipart_upload_id: f for f in SampleFile.objects.filter(
        multipart_upload_id__in=ids).select_related("sample", "lab")} if ids else {}
    for bucket in buckets:
        for upload in bucket["uploads"]:
            upload["sample_file"] = files.get(upload["upload_id"])
    return buckets
