"""What the end of a run adds to /metrics (storage.metric_records; names in common/metrics.py)."""

from __future__ import annotations

from jobs.models import Job
from jobs.models.runs import StepStatus
from storage import metric_records


def run_ended(job: Job) -> None:
    """Count the run's outcome, and the duration of every step this attempt completed (a step
    `cached` was completed, and counted, by an earlier attempt). Called in the transaction that
    ends the run, so a run counts once."""
    metric_records.count("jobs_finished", outcome=job.status)
    metric_records.observe("pipeline_step_duration_seconds", [
        ({"step": step["process"]}, float(step["duration_s"])) for step in job.progress
        if step.get("status") == StepStatus.COMPLETED and step.get("duration_s") is not None
        and step.get("process")])
