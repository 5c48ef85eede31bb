"""django-q2 entry points. Each takes ids, reloads rows and calls one service; safe to run twice."""

from jobs import services


def verify_sample(sample_id: str) -> str:
    sample = services.sample_verify(sample_id=sample_id)
    return sample.status if sample else "not verifying"


def sweep_intake() -> dict:
    return services.intake_sweep()


def run_job(job_id: str) -> str:
    from jobs import pipeline

    job = pipeline.job_run(job_id=job_id)
    return job.status if job else "not run"


def reap_jobs() -> dict:
    from jobs import runs

    return runs.job_reap()


def draft_report(job_id: str) -> str:
    from jobs import reports

    report = reports.report_draft_create(job_id=job_id)
    return f"report v{report.version} {report.status}" if report else "no report (job not succeeded)"


def send_notification(kind: str, object_id: str) -> int:
    from jobs import notifications

    return notifications.notify(kind, object_id)
