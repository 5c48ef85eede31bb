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
    from jobs.results.qc import qc_fail_limits, qc_verdict
    assert job.qc["fail_limits"] == qc_fail_limits(None), "run-local records no failure limits"
    assert job.qc_verdict == qc_verdict(job.qc) != "", "the real run's verdict is on the job"


def test_publishing_stores_the_qc_verdict_by_the_runs_own_limits(tmp_path, manager, monkeypatch):
    """A run with no read mapped gets a failing verdict on the job, by the failure limits its
    metadata.json recorded (else the pipeline's defaults), so lists need not read the figures."""
    import json

    from django.utils import timezone

    from jobs.models import Sample
    from jobs.results.tests.test_qc import write_pipeline_summary

    sample = Sample.objects.create(lab=manager.lab, name="S1", external_id="E1", sex="female",
                                   clinical_indication="x", created_by=manager.user,
                                   consent_confirmed_at=timezone.now(), status="submitted")
    job = Job.objects.create(lab=manager.lab, sample=sample, submitted_by=manager.user,
                             status="running")
    (tmp_path / "qc").mkdir()
    qc = json.loads(write_pipeline_summary(tmp_path / "qc").read_text())
    (tmp_path / "qc" / "S1.qc.json").write_text(json.dumps({**qc, "mapped_pct": 0.0}))
    (tmp_path / "S1_Final_.txt").write_text("")
    monkeypatch.setattr(publishing, "load_variants", lambda **kwargs: 0)
    monkeypatch.setattr(publishing, "variant_table_summary", lambda **kwargs: None)

    publishing._load_results(job, tmp_path, parameters=None)
    job.refresh_from_db()
    assert job.qc_verdict == "fail"
    assert job.qc["fail_limits"]["mapped_pct"] == {"min": 80}

    healthy = {**qc, "mapped_pct": 99.0, "duplication_pct": 5.0, "mean_target_depth": 30.0,
               "pct_target_bases_ge_20x": 95.0, "q30_rate_after": 0.95}
    (tmp_path / "qc" / "S1.qc.json").write_text(json.dumps(healthy))
    publishing._load_results(job, tmp_path, parameters={"qc_fail_min_mean_depth": 40})
    job.refresh_from_db()
    assert job.qc_verdict == "fail", "30x is below this run's own limit of 40x"
    publishing._load_results(job, tmp_path, parameters={})
    job.refresh_from_db()
    assert job.qc_verdict == "warn", "above the default limit; the summary warned on depth"
