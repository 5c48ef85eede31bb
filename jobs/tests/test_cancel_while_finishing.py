"""A job cancelled while its outputs are being published keeps none of them (they were made for
an analysis nobody will review): objects, rows, ledger entries, variants and its work directory
go; the compute it used stays counted."""

from pathlib import Path

import pytest

from common.queue import Sending
from jobs.models import Job, JobUsage
from jobs.results.publishing import job_outputs_publish
from jobs.runs import runner, services
from storage import s3
from storage.buckets import bucket_name
from storage.models import StoredObject

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_job_cancelled_while_finishing_keeps_no_outputs(ready_sample, clinician, manager,
                                                         settings, monkeypatch, sync_tasks):
    """The outputs go in a records task the runner queues (the worker's key may not delete
    results); the queue runs it at once here."""
    monkeypatch.setattr(services, "enqueue_run", lambda job_id: Sending("run", sent=True))
    job = services.job_submit(membership=clinician, sample=ready_sample(clinician))

    def cancelled_meanwhile(job, out_dir):
        services.job_cancel(membership=manager, job=job)
        job_outputs_publish(job, out_dir)

    runner.job_run(job_id=job.pk, publish=cancelled_meanwhile)

    job = Job.objects.get(pk=job.pk)
    assert job.status == "cancelled"
    assert not job.outputs.exists() and not job.variants.exists() and job.qc == {}
    assert not (Path(settings.PIPELINE_WORK_DIR) / str(job.pk)).exists()
    for role in ("results", "intermediate"):
        listed = s3.client().list_objects_v2(Bucket=bucket_name(role),
                                             Prefix=f"{job.lab_id}/{job.pk}/")
        assert listed.get("KeyCount", 0) == 0, (role, listed.get("Contents"))
    live = StoredObject.objects.filter(job_id=job.pk, deleted_at__isnull=True)
    assert {row.bucket for row in live} == {bucket_name("raw")}, "only the sample's own reads"
    assert JobUsage.objects.filter(job=job).exists(), "the compute it used stays counted"
