"""A manager analyses a submitted sample again: a new job (the earlier one, its outputs and its
report untouched), with a reason, audited; refused to clinicians, while an analysis is queued or
running, and once the raw reads are gone. (The review queue and usage with two analyses of a
sample: jobs/records/tests/test_two_analyses.py.)"""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jobs.models import Job, JobOutput, Report, Sample, SampleStatus
from storage import s3, versions
from storage.buckets import bucket_name
from tests.upload_client import sample_fields
from tenants import audit_actions
from tenants.models import AuditEvent

pytestmark = pytest.mark.django_db(transaction=True)
READS = b"@r1\nACGT\n+\nIIII\n"


@pytest.fixture
def analysed(client_for, clinician, manager, provisioned_s3):
    """A sample whose first analysis succeeded and whose report was signed out; its two FASTQ
    files are still in the raw-data bucket."""
    response = client_for(clinician).post("/labs/lab-a/samples/new/", {
        **sample_fields(), "r1_name": "S1_R1.fastq.gz", "r1_size": len(READS),
        "r2_name": "S1_R2.fastq.gz", "r2_size": len(READS)}, HTTP_ACCEPT="application/json")
    sample = Sample.objects.get(pk=response.json()["sample"]["id"])
    for f in sample.files.all():
        s3.put_bytes(bucket_name("raw"), f.key, READS, content_type="application/gzip")
    sample.files.update(status="verified", sha256="ab" * 32, uploaded_at=timezone.now(),
                        verified_at=timezone.now())
    Sample.objects.filter(pk=sample.pk).update(status=SampleStatus.SUBMITTED)
    now = timezone.now()
    first = Job.objects.create(id=sample.job_id, lab=sample.lab, sample=sample,
                               submitted_by=clinician.user, status="succeeded",
                               submitted_at=now - timedelta(hours=3),
                               started_at=now - timedelta(hours=3),
                               finished_at=now - timedelta(hours=2), qc_verdict="warn")
    JobOutput.objects.create(lab=sample.lab, job=first, path="S1_Final_.txt",
                             bucket_role="results", key=f"lab-a/{first.pk}/S1_Final_.txt",
                             size=10, sha256="cd" * 32, verified_at=now)
    Report.objects.create(lab=sample.lab, job=first, version=1, status="signed_out",
                          signed_at=now - timedelta(hours=1), signed_by=manager.user)
    return Sample.objects.get(pk=sample.pk)


def reanalyse_url(sample, slug="lab-a"):
    return f"/labs/{slug}/samples/{sample.pk}/reanalyse/"


def test_a_manager_starts_a_new_analysis_and_the_first_one_stays(client_for, manager, analysed,
                                                                  monkeypatch):
    from common.queue import Sending
    from jobs.runs import services

    queued = []
    monkeypatch.setattr(services, "enqueue",
                        lambda task, *args, **kw: queued.append((task, args)) or Sending(task))
    first = Job.objects.get()
    response = client_for(manager).post(reanalyse_url(analysed),
                                        {"reason": "Pipeline update 2.1 (new caller)"},
                                        follow=True)
    assert "A new analysis of S1 was queued" in response.content.decode()
    new = Job.objects.exclude(pk=first.pk).get()
    assert queued == [("jobs.tasks.run_job", (str(new.pk),))]
    assert (new.status, new.submitted_by, new.reanalysis_reason) == (
        "queued", manager.user, "Pipeline update 2.1 (new caller)")
    assert new.pk != analysed.job_id, "the raw keys keep the first job's id; the new job has its own"
    kept = Job.objects.get(pk=first.pk)
    assert (kept.status, kept.qc_verdict, kept.finished_at) == ("succeeded", "warn",
                                                                first.finished_at)
    assert kept.outputs.count() == 1 and kept.reports.get().signed_at is not None
    event = AuditEvent.objects.get(action=audit_actions.SAMPLE_REANALYSED)
    assert event.details["job"] == str(new.pk)
    assert event.details["previous_job"] == str(first.pk)
    assert event.details["reason"] == "Pipeline update 2.1 (new caller)"
    assert (event.actor_email, event.resource_id) == (manager.user.email, str(analysed.pk))

    sample = Sample.objects.get(pk=analysed.pk)
    assert sample.latest_job == new
    assert sample.stage.label == "Analysis queued"
    page = client_for(manager).get(f"/labs/lab-a/samples/{sample.pk}/").content.decode()
    rows = re.findall(r'<tr data-job="([0-9a-f-]+)"( data-current-job)?>', page)
    assert rows == [(str(new.pk), " data-current-job"), (str(first.pk), "")], "newest first"
    assert "Analysis 2" in page and "Analysis 1" in page
    assert "Pipeline update 2.1 (new caller)" in page
    # The first analysis and its report stay reachable.
    assert client_for(manager).get(f"/labs/lab-a/jobs/{first.pk}/").status_code == 200
    assert client_for(manager).get(f"/labs/lab-a/jobs/{first.pk}/report/").status_code == 200


def test_it_needs_a_reason(client_for, manager, analysed):
    response = client_for(manager).post(reanalyse_url(analysed), {"reason": "  "}, follow=True)
    assert "Say why the sample is analysed again" in response.content.decode()
    assert Job.objects.count() == 1
    assert not AuditEvent.objects.filter(action=audit_actions.SAMPLE_REANALYSED).exists()


def test_a_clinician_is_refused_and_sees_no_button(client_for, clinician, manager, analysed):
    client = client_for(clinician)
    assert client.post(reanalyse_url(analysed), {"reason": "why not"}).status_code == 403
    assert Job.objects.count() == 1
    assert "data-reanalyse" not in client.get(
        f"/labs/lab-a/samples/{analysed.pk}/").content.decode()
    assert "data-reanalyse" in client_for(manager).get(
        f"/labs/lab-a/samples/{analysed.pk}/").content.decode()


def test_an_outsider_gets_404(client_for, outsider, analysed):
    client = client_for(outsider)
    assert client.post(reanalyse_url(analysed), {"reason": "x"}).status_code == 404
    assert client.post(reanalyse_url(analysed, slug="lab-b"), {"reason": "x"}).status_code == 404
    assert Job.objects.count() == 1


@pytest.mark.parametrize("status", ["queued", "running"])
def test_it_is_refused_while_an_analysis_is_queued_or_running(client_for, manager, analysed,
                                                              status):
    client = client_for(manager)
    client.post(reanalyse_url(analysed), {"reason": "first retry"})
    Job.objects.filter(reanalysis_reason="first retry").update(status=status)
    assert "data-reanalyse" not in client.get(
        f"/labs/lab-a/samples/{analysed.pk}/").content.decode()
    response = client.post(reanalyse_url(analysed), {"reason": "second"}, follow=True)
    assert "An analysis of S1 is still queued or running" in response.content.decode()
    assert Job.objects.count() == 2


def test_it_is_refused_once_the_raw_reads_are_gone(client_for, manager, analysed):
    r2 = analysed.files.get(read=2)
    versions.delete_object_versions(bucket_name("raw"), r2.key)
    response = client_for(manager).post(reanalyse_url(analysed), {"reason": "new panel"},
                                        follow=True)
    html = response.content.decode()
    assert "The raw FASTQ file R2 of S1 is no longer in storage" in html
    assert "Upload the reads as a new sample" in html
    assert Job.objects.count() == 1


def test_the_sample_list_queries_do_not_grow_with_analyses(client_for, manager, analysed):
    client = client_for(manager)
    client.get("/labs/lab-a/samples/")
    with CaptureQueriesContext(connection) as one:
        client.get("/labs/lab-a/samples/")
    client.post(reanalyse_url(analysed), {"reason": "again"})
    Job.objects.filter(status="queued").update(status="failed", finished_at=timezone.now())
    client.post(reanalyse_url(analysed), {"reason": "and again"})
    with CaptureQueriesContext(connection) as three:
        client.get("/labs/lab-a/samples/")
    assert len(one) == len(three), (len(one), len(three))
