"""The sample page tells the truth at each moment: where the sample is (one stage, the same on
the list), each timeline step done / in progress / waiting / failed with its time, and its live
parts re-read by the status card's polling while anything changes."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.intake.selectors import sample_timeline
from jobs.models import Job, Report, Sample
from tests.upload_client import sample_fields
from tenants import audit_actions
from tenants.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def uploading(client_for, clinician):
    response = client_for(clinician).post("/labs/lab-a/samples/new/", {
        **sample_fields(), "r1_name": "S1_R1.fastq.gz", "r1_size": 10,
        "r2_name": "S1_R2.fastq.gz", "r2_size": 10}, HTTP_ACCEPT="application/json")
    return Sample.objects.get(pk=response.json()["sample"]["id"])


def states(sample) -> dict:
    return {t.label: (t.state, t.at) for t in sample_timeline(Sample.objects.get(pk=sample.pk))}


def test_received_only_when_both_files_are_stored(uploading):
    t0 = timezone.now() - timedelta(minutes=10)
    uploading.files.update(status="uploading", upload_started_at=t0)
    assert states(uploading)["Received"] == ("current", t0)
    assert states(uploading)["Verified"] == ("pending", None)
    r1_done = t0 + timedelta(minutes=3)
    uploading.files.filter(read=1).update(status="uploaded", uploaded_at=r1_done)
    assert states(uploading)["Received"] == ("current", t0), "R2 is still uploading"
    r2_done = t0 + timedelta(minutes=5)
    uploading.files.filter(read=2).update(status="uploaded", uploaded_at=r2_done)
    Sample.objects.filter(pk=uploading.pk).update(status="verifying")
    assert states(uploading)["Received"] == ("done", r2_done)
    assert states(uploading)["Verified"] == ("current", None)
    verified_at = t0 + timedelta(minutes=6)
    uploading.files.update(status="verified", verified_at=verified_at)
    Sample.objects.filter(pk=uploading.pk).update(status="ready")
    assert states(uploading)["Verified"] == ("done", verified_at)
    assert states(uploading)["Queued"] == ("pending", None)


def test_a_file_rejected_by_verification_was_still_received(uploading):
    # A truncated R1 is stored whole and then rejected: the upload itself did not fail, so
    # "Received" must not say "1 of 2 FASTQ files stored" (the user would upload it again).
    done = timezone.now() - timedelta(minutes=2)
    uploading.files.update(status="uploaded", upload_started_at=done, uploaded_at=done)
    uploading.files.filter(read=1).update(status="rejected", error="R1 is truncated")
    Sample.objects.filter(pk=uploading.pk).update(status="rejected",
                                                  rejection_reason="R1 is truncated")
    timeline = {t.label: t for t in sample_timeline(Sample.objects.get(pk=uploading.pk))}
    assert (timeline["Received"].state, timeline["Received"].detail) == (
        "done", "2 FASTQ files stored")
    assert timeline["Verified"].state == "failed"
    uploading.files.filter(read=2).update(status="corrupt", error="R2 is 5 bytes in storage")
    received = sample_timeline(Sample.objects.get(pk=uploading.pk))[0]
    assert (received.state, received.detail) == ("failed", "1 of 2 FASTQ files stored")


def test_the_polled_parts_carry_the_timeline_without_an_audit(client_for, clinician, uploading):
    client = client_for(clinician)
    page = client.get(f"/labs/lab-a/samples/{uploading.pk}/").content.decode()
    assert f'hx-get="/labs/lab-a/samples/{uploading.pk}/"' in page, "polls while uploading"
    viewed = AuditEvent.objects.filter(action=audit_actions.SAMPLE_VIEWED).count()

    uploading.files.update(status="verified", uploaded_at=timezone.now(),
                           verified_at=timezone.now())
    Sample.objects.filter(pk=uploading.pk).update(status="ready")
    poll = client.get(f"/labs/lab-a/samples/{uploading.pk}/", HTTP_HX_REQUEST="true")
    html = poll.content.decode()
    assert 'id="sample-status"' in html and "hx-get" not in html.split("</div>")[0], \
        "ready: the card stops polling"
    assert '<ol id="sample-timeline" class="timeline card" data-timeline hx-swap-oob="true">' \
        in html
    verified = re.search(r'data-timeline-step="Verified" data-timeline-state="(\w+)">.*?'
                         r'tl-state small">([^<]+)<.*?tl-when">([^<]+)<', html, re.S)
    assert verified.group(1, 2) == ("done", "done")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", verified.group(3))
    assert "Submit for analysis" in html
    assert AuditEvent.objects.filter(action=audit_actions.SAMPLE_VIEWED).count() == viewed
    assert poll["Vary"] and "HX-Request" in poll["Vary"]


def test_the_stage_says_where_the_sample_is(client_for, clinician, manager, uploading):
    def stage():
        return Sample.objects.prefetch_related("jobs__reports").get(pk=uploading.pk).stage.label

    assert stage() == "Uploading"
    Sample.objects.filter(pk=uploading.pk).update(status="ready")
    assert stage() == "Ready to submit"
    Sample.objects.filter(pk=uploading.pk).update(status="submitted")
    job = Job.objects.create(lab=uploading.lab, sample=uploading, submitted_by=clinician.user)
    assert stage() == "Analysis queued"
    for status, label in (("running", "Analysis running"), ("failed", "Analysis failed"),
                          ("cancelled", "Analysis cancelled"), ("succeeded", "Awaiting review")):
        Job.objects.filter(pk=job.pk).update(status=status)
        assert stage() == label
    v1 = Report.objects.create(lab=uploading.lab, job=job, version=1)
    assert stage() == "Awaiting review"
    Report.objects.filter(pk=v1.pk).update(status="signed_out", signed_at=timezone.now(),
                                           signed_by=manager.user)
    assert stage() == "Report signed out"
    Report.objects.create(lab=uploading.lab, job=job, version=2, amends=v1)
    assert stage() == "Amendment awaiting review"
    Job.objects.filter(pk=job.pk).update(status="archived")
    Report.objects.filter(version=2).update(status="signed_out", signed_at=timezone.now(),
                                            signed_by=manager.user)
    assert stage() == "Report signed out", "archiving does not change where the sample is"

    listing = client_for(clinician).get("/labs/lab-a/samples/").content.decode()
    assert 'data-sample-stage="signed_out">Report signed out</span>' in listing
    assert ">Submitted<" not in listing
    page = client_for(clinician).get(f"/labs/lab-a/samples/{uploading.pk}/").content.decode()
    assert 'data-sample-stage="signed_out">Report signed out</span>' in page
