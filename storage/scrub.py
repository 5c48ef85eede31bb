"""The storage scrub: re-read stored objects and hold their size and SHA-256 against what the
portal recorded when it wrote them.

What is expected comes from the object ledger (storage.models.StoredObject): one live row per
object the portal wrote, with its size and, for most writers, its SHA-256. Some digests are
recorded only in the tables of the layers above (a FASTQ's SHA-256 is known once the sample is
verified, on its SampleFile row; outputs, reports and archives carry theirs too), and storage
imports no app, so those layers register a digest source (storage/digests.py, from their
AppConfig.ready). The ledger stays the spine: it is the one list of every object, in key
order, which is what makes a run resumable from a cursor.

Each object is read with one GET of its latest version: every path the portal serves or reads
(downloads, archiving, restore, verification) reads the latest version, so an overwrite in a
versioned bucket (the old bytes still underneath as a noncurrent version) is a change users would
get, and is flagged. A size that differs from the record is flagged without reading the body.

Unlike the nightly reconciliation (jobs/records/reconciliation.py: one listing per lab and
bucket, sizes only, cheap), the scrub reads every byte, so it is slow by design: a run may check
everything (`--all`) or a window of N objects after where the previous run stopped (a rotating
sample that comes round to every object in turn), and records its cursor after each object.

Findings are kept in ScrubFinding (one open per key; resolved when a later run reads the object
intact, or the portal has deleted it) and each run's new findings are mailed to ADMINS and
passed to the listeners registered in storage/scrub_report.py (tenants writes the audit
event).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Callable, Iterator

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone

from storage import multipart, s3, versions
from storage.buckets import REGISTRY
from storage.checksums import CHUNK, size_and_sha256
from storage.digests import recorded_digests
from storage.models import ScrubFinding, ScrubKind, ScrubRun, ScrubStatus, StoredObject
from storage.scrub_report import report_new_findings

log = logging.getLogger(__name__)

PAGE = 500                       # ledger rows read (and digest sources asked) at a time
# Storage is down or refuses the portal's key: the run fails (resumable), nothing is flagged.
OUTAGE_CODES = {"Unreachable", "Timeout", "InvalidAccessKeyId", "SignatureDoesNotMatch"}
STALE_AFTER = timedelta(minutes=30)   # a "running" run without a heartbeat this long is dead

@dataclass
class Expected:
    """One object as the portal recorded it; `digests` maps a SHA-256 to the records naming it."""

    row_id: int
    bucket: str
    key: str
    size: int
    lab_id: object
    digests: dict[str, list[str]] = field(default_factory=dict)

    def add_digest(self, sha256: str, source: str) -> None:
        if sha256:
            self.digests.setdefault(sha256.lower(), []).append(source)

    def describe(self) -> str:
        text = f"{self.size:,} bytes"
        for digest, sources in sorted(self.digests.items()):
            text += f", SHA-256 {digest} ({', '.join(sources)})"
        return text[:255]


@dataclass
class Problem:
    kind: str
    found: str
    version_id: str = ""


def _expired_rows() -> Q:
    """Rows whose bucket's expiry rule has removed the object as intended (the reconciliation
    closes them; until it has, they are not expected)."""
    now, gone = timezone.now(), Q(pk__in=[])
    for rule in REGISTRY:
        if rule.expire_days:
            gone |= Q(bucket=rule.name, created_at__lte=now - timedelta(days=rule.expire_days))
    return gone


def expected_objects(*, after: tuple[str, str] | None = None,
                     through: tuple[str, str] | None = None) -> Iterator[Expected]:
    """Live ledger rows in (bucket, key) order, after `after` and before `through`,
    with the SHA-256 every record holds, a page at a time."""
    live = StoredObject.objects.filter(deleted_at__isnull=True).exclude(_expired_rows())
    if through is not None:
        live = live.filter(Q(bucket__lt=through[0]) | Q(bucket=through[0], key__lt=through[1]))
    while True:
        page = live
        if after is not None:
            page = page.filter(Q(bucket__gt=after[0]) | Q(bucket=after[0], key__gt=after[1]))
        rows = list(page.order_by("bucket", "key")
                    .values_list("pk", "bucket", "key", "size", "lab_id", "sha256")[:PAGE])
        if not rows:
            return
        page_objects = []
        for pk, bucket, key, size, lab_id, sha256 in rows:
            item = Expected(pk, bucket, key, size, lab_id)
            item.add_digest(sha256, "ledger")
            page_objects.append(item)
        _add_recorded_digests(page_objects)
        yield from page_objects
        after = (rows[-1][1], rows[-1][2])


def _add_recorded_digests(items: list[Expected]) -> None:
    by_bucket: dict[str, dict[str, Expected]] = {}
    for item in items:
        by_bucket.setdefault(item.bucket, {})[item.key] = item
    for bucket, keyed in by_bucket.items():
        for _bucket, key, sha256, name in recorded_digests(bucket, list(keyed)):
            if key in keyed:
                keyed[key].add_digest(sha256, name)


def _chunks(body, reading: Callable[[int], None] | None) -> Iterator[bytes]:
    for chunk in iter(lambda: body.read(CHUNK), b""):
        if reading is not None:
            reading(len(chunk))
        yield chunk


def check_object(item: Expected, *,
                 reading: Callable[[int], None] | None = None) -> tuple[Problem | None, int]:
    """Read the object's latest version, a chunk at a time (`reading` is told each chunk's size);
    the problem found (None when intact) and the bytes read. Raises StorageError when storage
    itself is unavailable (OUTAGE_CODES)."""
    action = f"read {item.key} from {item.bucket}"
    try:
        with s3.translated_errors(action):
            answer = s3.client().get_object(Bucket=item.bucket, Key=item.key)
    except s3.StorageError as exc:
        if exc.code in OUTAGE_CODES:
            raise
        if exc.code in s3.NOT_FOUND_CODES:
            return Problem(ScrubKind.MISSING, "no such object (deleted or lost)"), 0
        return Problem(ScrubKind.UNREADABLE, str(exc)), 0
    version = answer.get("VersionId") or ""
    if version == "null":
        version = ""
    body = s3.ObjectBody(answer["Body"], action)
    try:
        if answer["ContentLength"] != item.size:
            return Problem(ScrubKind.SIZE_MISMATCH, f"{answer['ContentLength']:,} bytes",
                           version), 0
        try:
            size, digest = size_and_sha256(_chunks(body, reading))
        except s3.StorageError as exc:
            if exc.code in OUTAGE_CODES:
                raise
            return Problem(ScrubKind.UNREADABLE, f"reading failed part-way: {exc}", version), 0
    finally:
        body.close()
    if size != item.size:
        return Problem(ScrubKind.SIZE_MISMATCH, f"{size:,} bytes read", version), size
    wrong = [d for d in item.digests if d != digest]
    if wrong:
        return Problem(ScrubKind.SHA256_MISMATCH, f"SHA-256 {digest}", version), size
    return None, size


def earlier_versions(item: Expected) -> str:
    """In a versioned bucket, what lies under the latest version (or the delete marker): where
    the intact bytes may still be. Said in the finding, for whoever puts it right."""
    rule = next((r for r in REGISTRY if r.name == item.bucket), None)
    if rule is None or not rule.versioned:
        return ""
    try:
        earlier = [v for v in versions.list_versions(item.bucket, item.key)
                   if v["Key"] == item.key and not v.get("IsLatest")]
    except s3.StorageError:
        return ""
    if not earlier:
        return "; no earlier version stored"
    newest = max(earlier, key=lambda v: v["LastModified"])
    sized = sum(1 for v in earlier if v["Size"] == item.size)
    return (f"; {len(earlier)} earlier version(s) stored, {sized} of the recorded size "
            f"(newest: {newest['VersionId']}, {newest['Size']:,} bytes)")


def _still_expected(item: Expected) -> bool:
    """The row is still the live one for its key (the portal did not replace or delete the object
    while it was being read), and no multipart upload to the key is in progress (an upload's row
    is written when it starts, jobs/intake/uploads.py)."""
    if not StoredObject.objects.filter(pk=item.row_id, deleted_at__isnull=True).exists():
        return False
    return not any(upload["Key"] == item.key
                   for upload in multipart.list_unfinished_uploads(item.bucket))


class Scrub:
    def __init__(self, run: ScrubRun):
        self.run = run
        self.new: list[ScrubFinding] = []

    def windows(self) -> Iterator[tuple[tuple | None, tuple | None, bool]]:
        """(after, through, wrapped) of what is left: from the cursor to the end of the ledger,
        then, for a run that began mid-way, from the start up to where it began."""
        run = self.run
        start = (run.start_bucket, run.start_key) if run.start_bucket else None
        cursor = (run.cursor_bucket, run.cursor_key) if run.cursor_bucket else start
        if not run.wrapped:
            yield cursor, None, False
            if start is None:
                return
            cursor = None
        yield cursor, start, True

    def objects(self) -> Iterator[Expected]:
        for after, through, wrapped in self.windows():
            for item in expected_objects(after=after, through=through):
                self.run.wrapped = self.run.wrapped or wrapped
                yield item

    def go(self) -> None:
        run, items = self.run, self.objects()
        while run.limit is None or run.objects_checked < run.limit:
            item = next(items, None)
            if item is None:
                return
            problem, read = check_object(item, reading=self.beat)
            if problem is not None and _still_expected(item):
                problem.found += earlier_versions(item)
                self.record(item, problem)
            elif problem is None:
                self.resolve(item.bucket, item.key)
            run.objects_checked += 1
            run.objects_size_only += 0 if item.digests else 1
            run.bytes_read += read
            run.cursor_bucket, run.cursor_key = item.bucket, item.key
            run.heartbeat_at = timezone.now()
            run.save(update_fields=["objects_checked", "objects_size_only", "bytes_read",
                                    "cursor_bucket", "cursor_key", "wrapped", "heartbeat_at",
                                    "findings_count", "new_findings_count"])

    def beat(self, _size: int) -> None:
        """While a large object is read: a heartbeat a minute, so the run does not look dead."""
        now = timezone.now()
        if now - self.run.heartbeat_at > timedelta(minutes=1):
            self.run.heartbeat_at = now
            ScrubRun.objects.filter(pk=self.run.pk).update(heartbeat_at=now)

    def record(self, item: Expected, problem: Problem) -> None:
        now = timezone.now()
        self.run.findings_count += 1
        open_finding = ScrubFinding.objects.filter(bucket=item.bucket, key=item.key,
                                                   resolved_at__isnull=True).first()
        if open_finding is not None and open_finding.kind == problem.kind:
            open_finding.found, open_finding.version_id = problem.found, problem.version_id
            open_finding.last_seen = now
            open_finding.save(update_fields=["found", "version_id", "last_seen"])
            return
        if open_finding is not None:
            self.resolve(item.bucket, item.key)
        self.new.append(ScrubFinding.objects.create(
            run=self.run, bucket=item.bucket, key=item.key, version_id=problem.version_id,
            lab_id=item.lab_id, kind=problem.kind, expected=item.describe(), found=problem.found,
            first_seen=now, last_seen=now))
        self.run.new_findings_count += 1
        log.warning("storage scrub: %s %s/%s: expected %s, found %s", problem.kind, item.bucket,
                    item.key, item.describe(), problem.found)

    @staticmethod
    def resolve(bucket: str, key: str) -> None:
        ScrubFinding.objects.filter(bucket=bucket, key=key, resolved_at__isnull=True) \
            .update(resolved_at=timezone.now())


def resolve_deleted() -> int:
    """Open findings of objects the portal has deleted since (no live ledger row): resolved."""
    live = StoredObject.objects.filter(bucket=OuterRef("bucket"), key=OuterRef("key"),
                                       deleted_at__isnull=True)
    return ScrubFinding.objects.filter(resolved_at__isnull=True).exclude(Exists(live)) \
        .update(resolved_at=timezone.now())


def unfinished_run() -> ScrubRun | None:
    """The latest run that did not finish: interrupted, failed, or left running by a process
    that died (no heartbeat for STALE_AFTER)."""
    latest = ScrubRun.objects.order_by("-started_at", "-pk").first()
    if latest is None or latest.finished:
        return None
    if latest.status == ScrubStatus.RUNNING \
            and latest.heartbeat_at > timezone.now() - STALE_AFTER:
        return None
    return latest


def running_run() -> ScrubRun | None:
    return ScrubRun.objects.filter(status=ScrubStatus.RUNNING,
                                   heartbeat_at__gt=timezone.now() - STALE_AFTER).first()


def scrub_start(*, trigger: str, limit: int | None) -> ScrubRun:
    """A new run: `limit` None checks everything from the first key; a limit checks that many
    objects after where the previous run stopped, going round to the start at the end."""
    start = ("", "")
    if limit is not None:
        previous = ScrubRun.objects.exclude(cursor_bucket="").order_by("-started_at", "-pk") \
            .values_list("cursor_bucket", "cursor_key").first()
        start = previous or start
    return ScrubRun.objects.create(trigger=trigger, limit=limit, start_bucket=start[0],
                                   start_key=start[1])


def scrub_continue(run: ScrubRun) -> ScrubRun:
    """Check the run's objects from its cursor on; save the outcome, mail ADMINS the new
    findings and tell the listeners. A storage outage ends the run "failed" (its cursor kept, so
    it can be resumed); Ctrl-C or SIGTERM ends it "interrupted"."""
    run.status, run.error, run.heartbeat_at = ScrubStatus.RUNNING, "", timezone.now()
    run.save(update_fields=["status", "error", "heartbeat_at"])
    scrub = Scrub(run)
    try:
        scrub.go()
    except s3.StorageError as exc:
        log.warning("storage scrub %s stopped: %s", run.pk, exc)
        run.status, run.error = ScrubStatus.FAILED, str(exc)
    except BaseException:
        run.status = ScrubStatus.INTERRUPTED
        run.save(update_fields=["status"])
        report_new_findings(run, scrub.new)
        raise
    else:
        resolve_deleted()
        run.status = ScrubStatus.FINDINGS if run.findings_count else ScrubStatus.CLEAN
        run.finished_at = timezone.now()
    run.save()
    report_new_findings(run, scrub.new)
    return run


def scrub_state() -> dict:
    """For monitoring: open findings by kind, and the latest finished run's end and counts."""
    open_by_kind = dict.fromkeys(ScrubKind.values, 0)
    for kind, count in ScrubFinding.objects.filter(resolved_at__isnull=True).order_by() \
            .values_list("kind").annotate(n=Count("pk")):
        open_by_kind[kind] = count
    last = ScrubRun.objects.filter(status__in=[ScrubStatus.CLEAN, ScrubStatus.FINDINGS]) \
        .order_by("-finished_at").first()
    return {"open_findings": open_by_kind,
            "last_finished_at": last.finished_at if last else None,
            "last_objects_checked": last.objects_checked if last else 0,
            "last_bytes_read": last.bytes_read if last else 0}


def scrub_scheduled() -> str:
    """The scheduled run (django-q2, WES_SCRUB_SCHEDULE): resumes an unfinished run, else checks
    the next WES_SCRUB_SAMPLE objects (0: all of them). Skips while another run is alive."""
    if running_run() is not None:
        return "skipped: a run is in progress"
    run = unfinished_run() or scrub_start(trigger="schedule",
                                          limit=settings.SCRUB_SAMPLE or None)
    run = scrub_continue(run)
    return f"{run.status}: {run.objects_checked} checked, {run.new_findings_count} new findings"
