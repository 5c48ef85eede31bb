"""Uploaded reads are kept 7 days (the raw-data bucket's expiry rule): a ready sample says by when
to submit it, and one submitted after its reads were removed is refused with the reason, instead
of a run that fails on missing inputs."""

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.models import Job, Sample, SampleStatus
from storage import s3, versions
from storage.buckets import bucket_name
from tests.upload_client import sample_fields

pytestmark = pytest.mark.django_db(transaction=True)
READS = b"@r1\nACGT\n+\nIIII\n"


@pytest.fixture
def ready(client_for, clinician, provisioned_s3):
    response = client_for(clinician).post("/labs/lab-a/samples/new/", {
        **sample_fields(), "r1_name": "S1_R1.fastq.gz", "r1_size": len(READS),
        "r2_name": "S1_R2.fastq.gz", "r2_size": len(READS)}, HTTP_ACCEPT="application/json")
    sample = Sample.objects.get(pk=response.json()["sample"]["id"])
    for f in sample.files.all():
        s3.put_bytes(bucket_name("raw"), f.key, READS, content_type="application/gzip")
    uploaded = timezone.now() - timedelta(days=2)
    sample.files.update(status="verified", sha256="ab" * 32, uploaded_at=uploaded,
                        verified_at=uploaded)
    Sample.objects.filter(pk=sample.pk).update(status=SampleStatus.READY)
    return Sample.objects.get(pk=sample.pk)


def test_a_ready_sample_says_by_when_to_submit_it(client_for, clinician, ready):
    html = client_for(clinician).get(f"/labs/lab-a/samples/{ready.pk}/").content.decode()
    due = (ready.files.first().uploaded_at + timedelta(days=7)).date()
    assert f'data-reads-kept-until="{due:%Y-%m-%d}"' in html
    assert "uploaded reads are removed from storage after that" in html


def test_a_sample_submitted_after_its_reads_expired_is_refused(client_for, clinician, ready):
    ready.files.update(uploaded_at=timezone.now() - timedelta(days=8))
    versions.delete_object_versions(bucket_name("raw"), ready.files.get(read=1).key)
    response = client_for(clinician).post(f"/labs/lab-a/samples/{ready.pk}/submit/", follow=True)
    html = response.content.decode()
    assert "The reads of S1 (R1) are no longer in storage: uploads are kept 7 days" in html
    assert "Upload the reads again as a new sample." in html
    assert not Job.objects.exists()
    assert Sample.objects.get(pk=ready.pk).status == SampleStatus.READY


def test_old_reads_still_stored_are_submitted(client_for, clinician, ready, monkeypatch):
    from common.queue import Sending
    from jobs.runs import services

    monkeypatch.setattr(services, "enqueue_run", lambda job_id: Sending("run", sent=True))
    ready.files.update(uploaded_at=timezone.now() - timedelta(days=8))
    client_for(clinician).post(f"/labs/lab-a/samples/{ready.pk}/submit/")
    assert Job.objects.filter(sample=ready).count() == 1
