"""Reads for the API (inside the token's lab, through the lab's own relations) and the dicts its
answers are made of (portal/api/schemas.py)."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Prefetch, Q

from jobs.models import Job, Report

SAMPLE_PREFETCH = ("files", Prefetch("jobs", Job.objects.prefetch_related("reports")))
JOB_PREFETCH = ("outputs", "reports")


def sample_query(lab, *, search: str = "", status: str | None = None):
    samples = lab.samples.prefetch_related(*SAMPLE_PREFETCH).order_by("-created_at", "-id")
    if search:
        samples = samples.filter(Q(name__icontains=search) | Q(external_id__icontains=search))
    if status:
        samples = samples.filter(status=status)
    return samples


def job_query(lab, *, sample=None, status: str | None = None):
    jobs = (lab.jobs.prefetch_related(*JOB_PREFETCH).select_related("sample")
            .order_by("-submitted_at", "-id"))
    if sample is not None:
        jobs = jobs.filter(sample_id=sample)
    if status:
        jobs = jobs.filter(status=status)
    return jobs


def paged(query, page: int, page_size: int, shape) -> dict:
    count = query.count()
    start = (page - 1) * page_size
    rows = list(query[start:start + page_size]) if start < count else []
    return {"count": count, "page": page, "page_size": page_size,
            "items": [shape(row) for row in rows]}


def file_dict(f) -> dict:
    return {"id": f.pk, "read": f.read, "name": f.original_name, "size": f.size,
            "status": f.status, "sha256": f.sha256 or None, "error": f.error}


def sample_dict(sample) -> dict:
    files = sorted(sample.files.all(), key=lambda f: f.read)
    return {"id": sample.pk, "name": sample.name, "external_id": sample.external_id,
            "sex": sample.sex, "status": sample.status, "stage": sample.stage.label,
            "reason": sample.rejection_reason, "created_at": sample.created_at,
            "files": [file_dict(f) for f in files],
            "job_ids": [job.pk for job in sample.jobs.all()]}


def _report_dict(job, membership) -> dict | None:
    """The newest report version the member may see."""
    visible = [r for r in job.reports.all() if r.visible_to(membership)]
    if not visible:
        return None
    report: Report = max(visible, key=lambda r: r.version)
    return {"id": report.pk, "status": report.status, "version": report.version,
            "sha256": report.signed_sha256 or None}


def _moment(value) -> datetime | None:
    """A step time as the runner records it (ISO 8601 with offset); None when not recorded (runs
    from before it was, a step that did not start or end) or not readable."""
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def job_dict(job, membership) -> dict:
    return {
        "id": job.pk, "sample_id": job.sample_id, "status": job.status,
        "qc_verdict": job.qc_verdict or None, "created_at": job.submitted_at,
        "finished_at": job.finished_at, "error": job.error,
        "steps": [{"name": str(step.get("process", "")), "status": str(step.get("status", "")),
                   "started_at": _moment(step.get("started_at")),
                   "finished_at": _moment(step.get("finished_at")),
                   "duration_s": step.get("duration_s"), "exit_code": step.get("exit_code")}
                  for step in (job.progress or []) if isinstance(step, dict)],
        "outputs": [{"id": o.pk, "name": o.path, "kind": o.bucket_role, "size": o.size,
                     "sha256": o.sha256} for o in job.outputs.all()],
        "report": _report_dict(job, membership),
    }


def parts_list(stored: list[dict]) -> list[dict]:
    """S3's part listing in the API's names."""
    return [{"part_number": p["PartNumber"], "size": p["Size"], "etag": p["ETag"]}
            for p in stored]
