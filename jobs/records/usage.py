"""Usage per lab and month, read from the database only, so a report is instant.

- samples submitted: distinct samples with a job submitted in the month (a re-analysis of an
  older sample counts again: it is work done that month);
- jobs succeeded / failed: jobs that ended in the month, by their final state (a succeeded job
  later archived or purged still counts as succeeded; a failed job retried is counted when the
  retry ends);
- compute hours: sum over the succeeded jobs' tasks of realtime x %cpu / 100, recorded from the
  published trace (`JobUsage`) when the outputs are published;
- bytes uploaded: FASTQ files verified in the month;
- bytes downloaded: the sizes of the files and reports a download URL was issued for (the
  audited `output.downloaded` / `report.downloaded` events), which is what the portal can know;
- bytes stored per bucket: live rows of the object ledger at the end of the month (or now, for
  the current month): created before that instant and not deleted by it.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import date, datetime

from django.db import transaction
from django.db.models import BigIntegerField, Count, Q, Sum
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.utils import timezone

from common.csv_cells import csv_cell
from common.months import month_bounds
from jobs.models import FileStatus, Job, JobStatus, SampleFile
from storage.buckets import REGISTRY
from storage.models import StoredObject
from tenants import audit_actions
from tenants.audit import Actor, audit_record
from tenants.models import AuditEvent, Lab

ROLES = [rule.role for rule in REGISTRY]
SUCCEEDED = (JobStatus.SUCCEEDED, JobStatus.ARCHIVED, JobStatus.PURGED)
DOWNLOAD_ACTIONS = (audit_actions.OUTPUT_DOWNLOADED, audit_actions.REPORT_DOWNLOADED)
SHARED = "Shared (no lab)"


@dataclass
class LabUsage:
    lab: Lab | None                        # None: objects of no lab (reference data, strays)
    samples_submitted: int = 0
    jobs_succeeded: int = 0
    jobs_failed: int = 0
    cpu_seconds: float = 0.0
    bytes_uploaded: int = 0
    bytes_downloaded: int = 0
    stored: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ROLES, 0))
    objects_stored: int = 0

    @property
    def name(self) -> str:
        return self.lab.name if self.lab else SHARED

    @property
    def compute_hours(self) -> float:
        return self.cpu_seconds / 3600

    @property
    def bytes_stored(self) -> int:
        return sum(self.stored.values())

    @property
    def stored_by_role(self) -> list[tuple[str, int]]:
        """(role, bytes) in the registry's order; a bucket no longer configured counts only in
        the total."""
        return [(role, self.stored.get(role, 0)) for role in ROLES]

    def add(self, other: "LabUsage") -> None:
        for name in ("samples_submitted", "jobs_succeeded", "jobs_failed", "cpu_seconds",
                     "bytes_uploaded", "bytes_downloaded", "objects_stored"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for role, size in other.stored.items():
            self.stored[role] = self.stored.get(role, 0) + size


@dataclass
class UsageReport:
    month: date
    start: datetime
    end: datetime
    stored_at: datetime          # the instant "bytes stored" describes: month end, or now
    rows: list[LabUsage]

    def __iter__(self):
        return iter(self.rows)

    @property
    def is_current(self) -> bool:
        return self.stored_at < self.end

    @property
    def totals(self) -> LabUsage:
        total = LabUsage(lab=None)
        for row in self.rows:
            total.add(row)
        return total


def _by_lab(queryset, **aggregates) -> dict:
    # order_by() drops the model's default ordering, which would otherwise join the GROUP BY.
    return {row.pop("lab_id"): row
            for row in queryset.order_by().values("lab_id").annotate(**aggregates)}


def usage_report(*, month: date, now: datetime | None = None) -> UsageReport:
    """One row per lab (every lab, active or not, by name), and a shared row when objects of no
    lab are stored. A handful of aggregate queries; nothing is loaded object by object."""
    start, end = month_bounds(month)
    stored_at = min(end, now or timezone.now())

    samples = _by_lab(Job.objects.filter(submitted_at__gte=start, submitted_at__lt=end),
                      samples=Count("sample_id", distinct=True))
    jobs = _by_lab(
        Job.objects.filter(finished_at__gte=start, finished_at__lt=end),
        succeeded=Count("pk", filter=Q(status__in=SUCCEEDED)),
        failed=Count("pk", filter=Q(status=JobStatus.FAILED)),
        cpu=Sum("usage__cpu_seconds", filter=Q(status__in=SUCCEEDED)))
    uploads = _by_lab(SampleFile.objects.filter(status=FileStatus.VERIFIED, verified_at__gte=start,
                                                verified_at__lt=end),
                      bytes=Sum("size"))
    downloads = _by_lab(
        AuditEvent.objects.filter(action__in=DOWNLOAD_ACTIONS, created_at__gte=start,
                                  created_at__lt=end),
        bytes=Sum(Cast(KT("details__size"), BigIntegerField())))
    stored = (StoredObject.objects.filter(created_at__lt=stored_at)
              .filter(Q(deleted_at__isnull=True) | Q(deleted_at__gte=stored_at))
              .order_by().values("lab_id", "bucket")
              .annotate(bytes=Sum("size"), objects=Count("id")))

    rows = {lab.pk: LabUsage(lab=lab) for lab in Lab.objects.order_by("name")}
    shared = LabUsage(lab=None)

    def row_for(lab_id) -> LabUsage:
        return rows.get(lab_id, shared) if lab_id else shared

    for lab_id, values in samples.items():
        row_for(lab_id).samples_submitted += values["samples"]
    for lab_id, values in jobs.items():
        row = row_for(lab_id)
        row.jobs_succeeded += values["succeeded"]
        row.jobs_failed += values["failed"]
        row.cpu_seconds += values["cpu"] or 0.0
    for lab_id, values in uploads.items():
        row_for(lab_id).bytes_uploaded += values["bytes"] or 0
    for lab_id, values in downloads.items():
        row_for(lab_id).bytes_downloaded += values["bytes"] or 0
    roles = {rule.name: rule.role for rule in REGISTRY}
    for values in stored:
        row = row_for(values["lab_id"])
        role = roles.get(values["bucket"], "other")
        row.stored[role] = row.stored.get(role, 0) + values["bytes"]
        row.objects_stored += values["objects"]
    result = list(rows.values())
    if any(getattr(shared, name) for name in ("samples_submitted", "jobs_succeeded",
                                              "jobs_failed", "bytes_downloaded",
                                              "objects_stored")):
        result.append(shared)
    return UsageReport(month=month.replace(day=1), start=start, end=end, stored_at=stored_at,
                       rows=result)


def csv_header() -> list[str]:
    return ["month", "lab_id", "lab_slug", "lab_name", "samples_submitted", "jobs_succeeded",
            "jobs_failed", "compute_hours", "bytes_uploaded", "bytes_downloaded",
            *[f"bytes_stored_{role}" for role in ROLES], "bytes_stored_total", "objects_stored",
            "stored_at"]


def csv_row(report: UsageReport, row: LabUsage) -> list:
    """Exact integers for bytes and hours to three decimals: what an invoice needs, no units."""
    return [f"{report.month:%Y-%m}", str(row.lab.pk) if row.lab else "",
            row.lab.slug if row.lab else "", row.name, row.samples_submitted, row.jobs_succeeded,
            row.jobs_failed, f"{row.compute_hours:.3f}", row.bytes_uploaded,
            row.bytes_downloaded, *[row.stored.get(role, 0) for role in ROLES], row.bytes_stored,
            row.objects_stored, report.stored_at.isoformat(timespec="seconds")]


def usage_csv_write(report: UsageReport, out) -> None:
    writer = csv.writer(out)
    writer.writerow(csv_header())
    for row in report.rows:
        writer.writerow([csv_cell(cell) for cell in csv_row(report, row)])


def usage_export(*, user, month: date, out, request=None) -> UsageReport:
    """Write the month's report as CSV to `out` and audit the export (no patient data is in it,
    but it leaves the portal, and invoices are built on it)."""
    report = usage_report(month=month)
    with transaction.atomic():
        usage_csv_write(report, out)
        audit_record(actor=Actor.for_user(user), action=audit_actions.USAGE_EXPORTED, request=request,
                     resource_type="usage_report", resource_id=f"{report.month:%Y-%m}",
                     data_exported=True,
                     details={"month": f"{report.month:%Y-%m}", "labs": len(report.rows),
                              "stored_at": report.stored_at.isoformat()})
    return report
