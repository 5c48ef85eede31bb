"""The worker's work directory (WES_WORK_DIR): one folder per job, pruned so that finished runs do
not fill the disk, and a free-space check before a run stages anything.

A failed run's folder is what `-resume` needs for a retry, so it is kept for
WES_KEEP_FAILED_WORK_DAYS; a succeeded or cancelled run's is removed when it ends (and here, if a
worker died first); a folder of no job at all is removed too.
"""

from __future__ import annotations

import errno
import shutil
import uuid
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from common.sizes import format_size
from jobs.models import Job, JobStatus

KEPT_WHILE = (JobStatus.QUEUED, JobStatus.RUNNING)


class WorkDiskFull(Exception):
    """Not enough free space in the work directory for a run."""


def work_root() -> Path:
    return Path(settings.PIPELINE_WORK_DIR)


def work_dir_of(job: Job) -> Path:
    return work_root() / str(job.pk)


def free_bytes() -> int:
    root = work_root()
    root.mkdir(parents=True, exist_ok=True)
    return shutil.disk_usage(root).free


def space_needed(job: Job) -> int:
    """The margin (WES_WORK_MIN_FREE_BYTES) plus room for the run: staged reads, then about as
    much again in alignments and as much in intermediates."""
    reads = sum(f.size for f in job.sample.files.all())
    return settings.WORK_MIN_FREE_BYTES + 3 * reads


def work_dirs_prune(*, keep: Job | None = None, now=None) -> list[str]:
    """Remove the folders no retry needs: succeeded, cancelled, archived or purged jobs', failed
    jobs' older than the keep period, and folders of no job; returns their names."""
    now = now or timezone.now()
    failed_before = now - timedelta(days=settings.KEEP_FAILED_WORK_DAYS)
    root = work_root()
    names = {path.name: path for path in root.iterdir() if path.is_dir()} if root.is_dir() else {}
    ids = {name for name in names if _is_uuid(name)}
    jobs = {str(pk): (status, finished) for pk, status, finished in
            Job.objects.filter(pk__in=ids).values_list("pk", "status", "finished_at")}
    removed = []
    for name in sorted(ids - {str(keep.pk) if keep else ""}):
        status, finished = jobs.get(name, (None, None))
        if status in KEPT_WHILE or (status == JobStatus.FAILED and finished
                                    and finished > failed_before):
            continue
        shutil.rmtree(names[name], ignore_errors=True)
        removed.append(name)
    return removed


def require_space(job: Job) -> None:
    """Before a run stages anything: prune, then refuse with a clear sentence if the job does not
    fit. A smaller job may still fit, so the worker goes on serving the queue."""
    needed = space_needed(job)
    work_dirs_prune(keep=job)
    free = free_bytes()
    if free < needed:
        raise WorkDiskFull(
            f"The worker's disk is full: {format_size(free)} free in {work_root()}, "
            f"{format_size(needed)} needed for this run. Free space (or raise the disk), then "
            "retry the job.")


def disk_full_error(exc: OSError) -> str | None:
    """The sentence for an OSError that means the work disk filled up during the run."""
    if exc.errno != errno.ENOSPC:
        return None
    return (f"The worker's disk is full: {exc}. {format_size(free_bytes())} are free in "
            f"{work_root()}; free space, then retry the job.")


def _is_uuid(name: str) -> bool:
    try:
        return str(uuid.UUID(name)) == name
    except ValueError:
        return False
