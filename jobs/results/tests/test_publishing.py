"""Publishing a finished run: nothing is recorded before every output is verified in storage, and
a retry completes what a storage outage interrupted."""

import pytest

from jobs.models import Job, JobStatus
from jobs.results import publishing
from storage import s3

pytestmark = pytest.mark.django_db(transaction=True)


def test_storage_down_while_publishing_is_not_success_and_a_retry_completes(
        client_for, ready_sample, clinician, manager, pipeline_env, monkeypatch):
    sample = ready_sample(clinician)
    real_upload = s3.upload_path
    calls = {"n": 0}

    def storage_goes_down(bucket, key, path, **kwargs):
        calls["n"] += 1
        if calls["n"] > 3:
            raise s3.StorageError("cannot reach the S3 server at http://127.0.0.1:1 while "
                                  "trying to upload", code="Unreachable")
        return real_upload(bucket, key, path, **kwargs)

    monkeypatch.setattr(publishing.s3, "upload_path", storage_goes_down)
    client_for(clinician).post(f"/labs/lab-a/samples/{sample.pk}/submit/")
    job = Job.objects.get()
    assert job.status == JobStatus.FAILED and job.failed_step == "publishing outputs"
    assert "cannot reach the S3 server" in job.error
    assert not job.outputs.exists(), "no output is recorded before all are verified"

    monkeypatch.setattr(publishing.s3, "upload_path", real_upload)
    client_for(manager).post(f"/labs/lab-a/jobs/{job.pk}/retry/")
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert {s["status"] for s in job.progress} == {"cached"}
    assert job.outputs.count() >= 10
