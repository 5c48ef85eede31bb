"""django-q2 entry points for storage. Each takes ids, reloads rows and calls one service; safe to
run twice."""

from django_q.tasks import async_task

from storage import archiving


def archive_jobs() -> dict:
    """Daily: one task per job past the results period (jobs under legal hold are skipped), so a
    large job's archive runs in its own task, within its own timeout."""
    due = archiving.archive_due(dry_run=True)
    for job_id in due["done"]:
        async_task("storage.tasks.archive_job", job_id)
    return {"queued": len(due["done"]), "held": len(due["held"])}


def archive_job(job_id: str) -> str:
    return archiving.job_archive(job_id=job_id).status


def purge_archives() -> dict:
    """Daily: purge archives past the archive period, except jobs under legal hold."""
    result = archiving.purge_expired()
    return {"purged": len(result["done"]), "held": len(result["held"]),
            "failed": result["failed"]}


def reconcile_storage(trigger: str = "schedule") -> dict:
    """Nightly: list every bucket, compare with the object ledger, record the snapshot. A failed
    run is recorded with its reason and raised, so the queue's failed-task list shows it too."""
    from storage.reconcile import storage_reconcile
    from storage.models import ReconciliationStatus

    run = storage_reconcile(trigger=trigger)
    if run.status == ReconciliationStatus.FAILED:
        raise RuntimeError(f"storage reconciliation {run.pk} failed: {run.error}")
    return {"run": run.pk, "status": run.status, "objects": run.objects_listed,
            "unrecorded": run.unrecorded_count, "missing": run.missing_count,
            "size_differs": run.size_mismatch_count, "expired": run.expired_count}
