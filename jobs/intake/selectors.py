"""Reads of a lab's samples: the list, one sample's history and its timeline to sign-out."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Prefetch, Q

from jobs.models import Job, Report, SampleFile

from tenants.models import AuditEvent


# The sample list's orders: URL value -> (label, ordering); each is served by an index on
# (lab, column) and ends with the id so that pages never overlap.
SAMPLE_SORTS = {
    "-created": ("Newest first", ("-created_at", "-id")),
    "created": ("Oldest first", ("created_at", "id")),
    "name": ("Name A–Z", ("name", "id")),
    "-name": ("Name Z–A", ("-name", "-id")),
}
DEFAULT_SAMPLE_SORT = "-created"
# What a row of the sample list reads (Sample.stage, turnaround, the R1 read count, the current
# analysis and its QC verdict), and no more: a job's QC figures, steps and archive manifest, and a
# report's texts, are JSON and text that would be parsed for every row and never shown.
SAMPLE_LIST_FIELDS = ("id", "lab_id", "name", "external_id", "status", "created_at",
                      "created_by__email")
SAMPLE_LIST_PREFETCH = (
    Prefetch("files", SampleFile.objects.only("id", "sample_id", "read", "status", "read_count")),
    Prefetch("jobs", Job.objects.only("id", "lab_id", "sample_id", "status", "qc_verdict",
                                      "submitted_at", "finished_at")),
    Prefetch("jobs__reports", Report.objects.only("id", "job_id", "version", "status",
                                                  "signed_at")),
)


def sample_list(lab, *, search: str = "", sort: str = DEFAULT_SAMPLE_SORT):
    """The lab's samples in the chosen order, as a query (the page reads one page of it);
    `search` matches the sample name or the identifier."""
    ordering = SAMPLE_SORTS.get(sort, SAMPLE_SORTS[DEFAULT_SAMPLE_SORT])[1]
    samples = (lab.samples.prefetch_related(*SAMPLE_LIST_PREFETCH)
               .select_related("created_by").only(*SAMPLE_LIST_FIELDS).order_by(*ordering))
    if search:
        samples = samples.filter(Q(name__icontains=search) | Q(external_id__icontains=search))
    return samples


@dataclass
class SampleRow:
    """One row of the sample list, each figure read once (the template only prints them)."""
    sample: object
    url: str
    stage: object
    job: object
    job_url: str
    analyses: int
    turnaround: object
    signed_out: bool
    reads_r1: int | None


def sample_rows(samples, *, sample_url: str, job_url: str) -> list[SampleRow]:
    """The rows of a page of `sample_list`. `sample_url` and `job_url` are URLs with `{id}` for
    the object's id (a hundred `reverse` calls cost more than the rest of a row)."""
    rows = []
    for sample in samples:
        jobs = list(sample.jobs.all())
        job = jobs[0] if jobs else None
        r1 = next((f for f in sample.files.all() if f.read == 1), None)
        rows.append(SampleRow(
            sample=sample, url=sample_url.format(id=sample.pk), stage=sample.stage, job=job,
            job_url=job_url.format(id=job.pk) if job else "", analyses=len(jobs),
            turnaround=sample.turnaround, signed_out=sample.signed_out_at is not None,
            # As on the sample page: a rejected file's count stops where reading it failed.
            reads_r1=r1.read_count if r1 and r1.status == "verified" else None))
    return rows


def sample_history(sample) -> list[AuditEvent]:
    """What happened to the sample and its files, oldest first (from the audit log). Read through
    the audit table's index on the events' `details.sample` (tenants/models.py), so it costs the
    same with a thousand events or a billion."""
    # Found by the sample's id alone, then kept to the sample's lab in Python: with the lab in
    # the WHERE clause PostgreSQL also reads the lab index (hundreds of thousands of entries) to
    # intersect two bitmaps, ten times slower than the few rows this index returns.
    events = (AuditEvent.objects.filter(details__has_key="sample", details__sample=str(sample.pk))
              .exclude(action__in=["sample.viewed"]).order_by("id"))
    return [event for event in events if event.lab_id == sample.lab_id]


# What each timeline state says beside its time.
STATE_WORDS = {"done": "done", "current": "in progress", "failed": "failed", "pending": "waiting",
               "stopped": "stopped"}


@dataclass
class TimelineEntry:
    label: str
    at: datetime | None
    state: str            # "done", "current", "failed", "stopped", "pending"
    detail: str = ""
    steps: list | None = None

    @property
    def state_word(self) -> str:
        return STATE_WORDS[self.state]


def _received(sample, files) -> TimelineEntry:
    """Received once both files are completely stored (uploaded; verified implies it, and so does
    a rejection by verification, which read the stored file: only a corrupt one was not)."""
    stored = [f for f in files
              if f.uploaded_at and f.status in ("uploaded", "verified", "rejected")]
    if files and len(stored) == len(files):
        return TimelineEntry("Received", max(f.uploaded_at for f in stored), "done",
                             f"{len(files)} FASTQ files stored")
    started = min((f.upload_started_at for f in files if f.upload_started_at), default=None)
    detail = f"{len(stored)} of {len(files)} FASTQ files stored"
    if sample.status == "rejected":
        return TimelineEntry("Received", started, "failed", detail)
    return TimelineEntry("Received", started, "current" if started else "pending", detail)


def _verified(sample, files) -> TimelineEntry:
    if sample.status == "rejected":
        return TimelineEntry("Verified", sample.updated_at, "failed", sample.rejection_reason)
    if files and all(f.verified_at for f in files):
        return TimelineEntry("Verified", max(f.verified_at for f in files), "done")
    if sample.status == "verifying":
        return TimelineEntry("Verified", None, "current", sample.verification_note)
    return TimelineEntry("Verified", None, "pending")


def sample_timeline(sample) -> list[TimelineEntry]:
    """Received → verified → queued → running (per-step times) → succeeded/failed → in review →
    signed out (and amendments), for the sample's current analysis, each step done, in progress,
    waiting or failed as of now (the sample page re-reads it while anything is in progress)."""
    files = list(sample.files.all())
    entries = [_received(sample, files), _verified(sample, files)]
    job = sample.latest_job
    if job is None:
        return entries + [TimelineEntry("Queued", None, "pending"),
                          TimelineEntry("Running", None, "pending")]
    by = f"by {job.submitted_by.email}"
    if job.reanalysis_reason:
        by += f" · new analysis: {job.reanalysis_reason[:200]}"
    entries.append(TimelineEntry("Queued", job.submitted_at,
                                 "current" if job.status == "queued" else "done", by))
    running_state = {"queued": "pending", "running": "current", "failed": "failed",
                     "cancelled": "stopped"}.get(job.status, "done")
    entries.append(TimelineEntry("Running", job.started_at, running_state,
                                 f"attempt {job.attempts}" if job.attempts else "",
                                 steps=job.progress))
    if job.status == "failed":
        entries.append(TimelineEntry("Failed", job.finished_at, "failed",
                                     job.failed_step or job.error[:200]))
        return entries
    if job.status == "cancelled":
        entries.append(TimelineEntry("Cancelled", job.finished_at, "stopped"))
        return entries
    entries.append(TimelineEntry("Succeeded", job.finished_at,
                                 "done" if job.finished_at else "pending",
                                 job.get_qc_verdict_display() if job.qc_verdict else ""))
    versions = list(job.reports.select_related("signed_by").order_by("version"))
    first = versions[0] if versions else None
    signed = [r for r in versions if r.signed_at]
    entries.append(TimelineEntry("In review", first.created_at if first else None,
                                 "done" if signed else ("current" if first else "pending")))
    if not signed:
        entries.append(TimelineEntry("Signed out", None, "pending"))
    for r in versions:
        label = "Signed out" if r.version == 1 else f"Amended (version {r.version})"
        if r.signed_at:
            entries.append(TimelineEntry(label, r.signed_at, "done", f"by {r.signed_by.email}"))
        elif signed and r.status == "pending_review":
            entries.append(TimelineEntry(label, None, "current", "awaiting review"))
    return entries
