import pytest

from jobs.models import Job, Sample, SampleStatus
from tests.upload_client import sample_fields
from tenants import audit_actions
from tenants.models import AuditEvent


@pytest.fixture
def verified_sample(client_for, clinician):
    response = client_for(clinician).post("/labs/lab-a/samples/new/", {
        **sample_fields(), "r1_name": "S1_R1.fastq.gz", "r1_size": 10,
        "r2_name": "S1_R2.fastq.gz", "r2_size": 10}, HTTP_ACCEPT="application/json")
    sample = Sample.objects.get(pk=response.json()["sample"]["id"])
    Sample.objects.filter(pk=sample.pk).update(status=SampleStatus.READY)
    sample.files.update(status="verified", sha256="ab" * 32)
    return sample


def submit_url(sample, slug="lab-a"):
    return f"/labs/{slug}/samples/{sample.pk}/submit/"


def test_it_queues_a_job_with_the_reserved_id_and_audits_it(client_for, clinician, verified_sample,
                                                            django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as queued:
        response = client_for(clinician).post(submit_url(verified_sample), follow=True)
    assert "was submitted for analysis" in response.content.decode()
    job = Job.objects.get()
    assert (job.pk, job.status, job.lab, job.submitted_by) == (
        verified_sample.job_id, "queued", clinician.lab, clinician.user)
    verified_sample.refresh_from_db()
    assert verified_sample.status == SampleStatus.SUBMITTED
    event = AuditEvent.objects.get(action=audit_actions.SAMPLE_SUBMITTED)
    assert event.details["job"] == str(job.pk)
    assert event.details["digests"] == {"R1": "ab" * 32, "R2": "ab" * 32}
    assert len(queued) == 1


def test_it_refuses_a_sample_that_is_not_ready(client_for, clinician, verified_sample):
    Sample.objects.filter(pk=verified_sample.pk).update(status=SampleStatus.VERIFYING)
    response = client_for(clinician).post(submit_url(verified_sample), follow=True)
    assert "Only a ready sample can be submitted; S1 is verifying." in response.content.decode()
    assert not Job.objects.exists()


def test_it_submits_once(client_for, clinician, verified_sample):
    client = client_for(clinician)
    client.post(submit_url(verified_sample))
    response = client.post(submit_url(verified_sample), follow=True)
    assert "S1 is submitted" in response.content.decode()
    assert Job.objects.count() == 1


def test_it_answers_404_to_an_outsider(client_for, outsider, verified_sample):
    client = client_for(outsider)
    assert client.post(submit_url(verified_sample)).status_code == 404
    assert client.post(submit_url(verified_sample, slug="lab-b")).status_code == 404
    assert not Job.objects.exists()
