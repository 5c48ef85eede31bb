"""django-q2 entry points of the jobs app. Queued tasks and schedules store these dotted names, so
they stay here, one module for the whole app; each takes ids, reloads rows and calls one service of
its area, and is safe to run twice."""

from django.conf import settings

from common.queue import enqueue
from jobs.intake import uploads, verification
from jobs.models import ReconciliationStatus
from jobs.records import archiving, cancelled, reconciliation, retention
from jobs.reports import notifications
from jobs.reports import services as reports
from jobs.results.publishing import job_outputs_publish
from jobs.runs import reaper, runner


def verify_sample(sample_id: str) -> str:
    sample = verification.sample_verify(sample_id=sample_id)
    return sample.status if sample else "not verifying"


def sweep_intake() -> dict:
    return uploads.intake_sweep()


def run_job(job_id: str) -> str:
    job = runner.job_run(job_id=job_id, publish=job_outputs_publish)
    return job.status if job else "not run"


def reap_jobs() -> dict:
    """Every minute: complete what a lost task, a dead worker or an outage left behind."""
    return {**reaper.job_reap(), "verifications": verification.verifications_resume(),
            "drafts": reports.report_drafts_resume()}


def draft_report(job_id: str) -> str:
    report = reports.report_draft_create(job_id=job_id)
    return f"report v{report.version} {report.status}" if report else "no report (job not succeeded)"


def send_notification(kind: str, object_id: str) -> int:
    return notifications.notify(kind, object_id)


def _passed_to_records_cluster(task: str, *args) -> bool:
    """With WES_RECORDS_CLUSTER set, the records tasks run only on that django-q2 cluster, whose
    process alone holds the records storage key (docs/operations.md, "Storage credentials"); one
    picked up by another cluster (a schedule, a button in the admin) is handed on to it."""
    from django_q.conf import Conf

    cluster = settings.WES_RECORDS_CLUSTER
    if not cluster or Conf.CLUSTER_NAME == cluster:
        return False
    enqueue(task, *args, cluster=cluster)
    return True


def _records_queue_options() -> dict:
    return {"cluster": settings.WES_RECORDS_CLUSTER} if settings.WES_RECORDS_CLUSTER else {}


def archive_jobs() -> dict:
    """Daily: one task per job past the results period (jobs under legal hold are skipped), so a
    large job's archive runs in its own task, within its own timeout."""
    due = archiving.archive_due(dry_run=True)
    for job_id in due["done"]:
        enqueue("jobs.tasks.archive_job", job_id, **_records_queue_options())
    return {"queued": len(due["done"]), "held": len(due["held"])}


def archive_job(job_id: str) -> str:
    if _passed_to_records_cluster("jobs.tasks.archive_job", job_id):
        return f"passed to the {settings.WES_RECORDS_CLUSTER} cluster"
    return archiving.job_archive(job_id=job_id).status


def discard_cancelled_outputs(job_id: str) -> int:
    """Queued by the runner when a job is cancelled while its outputs were being published."""
    if _passed_to_records_cluster("jobs.tasks.discard_cancelled_outputs", job_id):
        return 0
    return cancelled.cancelled_outputs_discard(job_id=job_id)


def hold_job_objects(job_id: str) -> dict:
    """Queued when a legal hold is placed or lifted in a process without the records key (the
    admin in gunicorn): sets the job's object holds to what its row says. A storage error fails the
    task (the failed tasks list it; the job's admin page says its objects are not yet held)."""
    if _passed_to_records_cluster("jobs.tasks.hold_job_objects", job_id):
        return {"passed_to": settings.WES_RECORDS_CLUSTER}
    return retention.job_objects_hold_match(job_id=job_id)


def purge_archives() -> dict:
    """Daily: purge archives past the archive period, except jobs under legal hold."""
    if _passed_to_records_cluster("jobs.tasks.purge_archives"):
        return {"passed_to": settings.WES_RECORDS_CLUSTER}
    result = archiving.purge_expired()
    return {"purged": len(result["done"]), "held": len(result["held"]),
            "failed": result["failed"]}


def reconcile_storage(trigger: str = "schedule") -> dict:
    """Nightly: list every bucket, compare with the object ledger, record the snapshot. A failed
    run is recorded with its reason and raised, so the queue's failed-task list shows it too."""
    if _passed_to_records_cluster("jobs.tasks.reconcile_storage", trigger):
        return {"passed_to": settings.WES_RECORDS_CLUSTER}
    run = reconciliation.storage_reconcile(trigger=trigger)
    if run.status == ReconciliationStatus.FAILED:
        raise RuntimeError(f"storage reconciliation {run.pk} failed: {run.error}")
    return {"run": run.pk, "status": run.status, "objects": run.objects_listed,
            "unrecorded": run.unrecorded_count, "missing": run.missing_count,
            "size_differs": run.size_mismatch_count, "expired": run.expired_count}
