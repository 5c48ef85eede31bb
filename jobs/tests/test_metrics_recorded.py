"""What the lab's work adds to /metrics: each count moves when its action happens (uploads on the
real S3 server, verification, downloads, lease takeovers, finished runs and their steps)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.intake.tests.test_sample_verify import upload_and_verify
from jobs.models import Job, JobStatus, Sample, SampleStatus
from jobs.runs import runner
from jobs.runs.reaper import job_reap
from storage import s3
from storage.buckets import bucket_name
from tests.fastq_data import VARIANTS
from tests.metrics import TEST_TOKEN, scrape, value

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def metrics_token(settings):
    settings.METRICS_TOKEN = TEST_TOKEN


def counter(scraped, family, **labels) -> float:
    return value(scraped, family, f"{family}_total", **labels)


@pytest.mark.usefixtures("provisioned_s3", "sync_tasks")
def test_uploads_count_their_bytes_and_failed_verifications_their_cause(
        client, uploader_for, clinician, fastq_pair, tmp_path,
        django_capture_on_commit_callbacks):
    before = scrape(client)
    uploader = uploader_for(clinician)
    good = upload_and_verify(uploader, "S1", *fastq_pair, django_capture_on_commit_callbacks)
    assert good.status == SampleStatus.READY
    sizes = sum(path.stat().st_size for path in fastq_pair)
    after = scrape(client)
    assert counter(after, "wes_upload_bytes", via="multipart") == counter(
        before, "wes_upload_bytes", via="multipart") + sizes
    assert after["wes_verification_failures"] == before["wes_verification_failures"]

    r1, r2, _ = VARIANTS["truncated"](tmp_path)
    broken = upload_and_verify(uploader, "S2", r1, r2, django_capture_on_commit_callbacks)
    assert broken.status == SampleStatus.REJECTED
    corrupt = upload_and_verify(uploader, "S3", *fastq_pair, django_capture_on_commit_callbacks,
                                sha256="0" * 64)
    assert corrupt.status == SampleStatus.REJECTED
    last = scrape(client)
    for cause, added in (("fastq", 1), ("checksum", 1), ("size", 0), ("duplicate", 0)):
        assert counter(last, "wes_verification_failures", cause=cause) == counter(
            before, "wes_verification_failures", cause=cause) + added, cause


@pytest.mark.usefixtures("provisioned_s3")
def test_an_issued_download_counts_the_file_bytes(client, clinician):
    from jobs.results.downloads import audited_download_url
    from tenants import audit_actions

    raw = bucket_name("results")
    s3.put_bytes(raw, f"{clinician.lab.pk}/x/report.pdf", b"%PDF" * 1000,
                 content_type="application/pdf")
    before = scrape(client)
    audited_download_url(membership=clinician, action=audit_actions.OUTPUT_DOWNLOADED,
                         lab=clinician.lab, resource_type="job_output", resource_id="x",
                         bucket=raw, key=f"{clinician.lab.pk}/x/report.pdf",
                         file_name="report.pdf", reason="clinical_care", note="", details={},
                         request=None)
    after = scrape(client)
    assert counter(after, "wes_download_bytes", kind="job_output") == counter(
        before, "wes_download_bytes", kind="job_output") + 4000
    assert counter(after, "wes_download_bytes", kind="report") == counter(
        before, "wes_download_bytes", kind="report")


@pytest.fixture
def dead_run(clinician):
    sample = Sample.objects.create(lab=clinician.lab, name="R1", external_id="P-1", sex="male",
                                   clinical_indication="x", consent_confirmed_at=timezone.now(),
                                   created_by=clinician.user, status="submitted")
    return Job.objects.create(
        lab=clinician.lab, sample=sample, submitted_by=clinician.user, status=JobStatus.RUNNING,
        attempts=1, lease_owner="dead-worker", runner_host="another-machine",
        lease_expires_at=timezone.now() - timedelta(minutes=1))


def test_a_takeover_and_the_end_of_the_run_are_counted_with_its_steps(client, dead_run):
    before = scrape(client)
    assert runner._claim(dead_run.pk, "worker-2") is not None
    Job.objects.filter(pk=dead_run.pk).update(progress=[
        {"process": "FASTP_QC", "status": "cached", "duration_s": 3.0},
        {"process": "BWA_ALIGN", "status": "completed", "duration_s": 42.5},
        {"process": "SORT", "status": "completed", "duration_s": 0.4},
        {"process": "CALL", "status": "failed", "duration_s": 5.0}])
    runner._finish(dead_run.pk, "worker-2", runner.Outcome(False, step="CALL", error="boom"))
    after = scrape(client)
    assert counter(after, "wes_lease_takeovers") == counter(before, "wes_lease_takeovers") + 1
    assert counter(after, "wes_jobs_finished", outcome="failed") == counter(
        before, "wes_jobs_finished", outcome="failed") + 1
    step = "wes_pipeline_step_duration_seconds"
    assert value(after, step, f"{step}_count", step="BWA_ALIGN") == 1
    assert value(after, step, f"{step}_sum", step="BWA_ALIGN") == 42.5
    assert value(after, step, f"{step}_bucket", step="BWA_ALIGN", le="30.0") == 0
    assert value(after, step, f"{step}_bucket", step="BWA_ALIGN", le="60.0") == 1
    assert value(after, step, f"{step}_bucket", step="SORT", le="1.0") == 1
    assert ("FASTP_QC" not in str(after[step])) and ("CALL" not in str(after[step])), \
        "steps reused or failed are not timed"


def test_a_run_the_reaper_gives_up_on_is_a_failure(client, dead_run):
    Job.objects.filter(pk=dead_run.pk).update(attempts=3, max_attempts=3)
    before = scrape(client)
    assert job_reap()["failed"] == 1
    after = scrape(client)
    assert counter(after, "wes_jobs_finished", outcome="failed") == counter(
        before, "wes_jobs_finished", outcome="failed") + 1
    assert counter(after, "wes_lease_takeovers") == counter(before, "wes_lease_takeovers")
