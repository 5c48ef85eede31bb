"""The sample page's timeline in headless Chromium, watched while the sample moves on without
a reload: "Received" in progress until both files are stored, "Verified" done with its time the
moment the sample turns ready, then an analysis running, finishing and failing its QC."""

import pytest
from django.utils import timezone

from jobs.intake.services import sample_create
from jobs.models import Job, Sample
from jobs.results.qc import qc_fail_limits, qc_verdict
from jobs.results.tests.test_qc_verdict_pages import QC
from tests.helpers import browser_page_as, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
POLL_WAIT = 10_000   # ms: the card polls every 2 s


def step(page, label):
    return page.locator(f"[data-timeline-step='{label}']")


def wait_for_step(page, label, state):
    page.wait_for_selector(f"[data-timeline-step='{label}'][data-timeline-state='{state}']",
                           timeout=POLL_WAIT)


def open_sample(chromium, live_server, client, member, sample):
    page = browser_page_as(chromium, live_server, client, member.user, width=1200, height=1100)
    page.goto(f"{live_server.url}/labs/lab-a/samples/{sample.pk}/")
    # Survives only as long as the document does: a reload would drop it.
    page.evaluate("window.__sameDocument = true")
    return page


def still_same_document(page) -> bool:
    return page.evaluate("window.__sameDocument === true")


def test_the_timeline_follows_the_upload_and_verification_live(chromium, live_server, client,
                                                               clinician):
    sample = sample_create(membership=clinician, data={
        "name": "NA12878", "external_id": "PSN-0042", "sex": "female",
        "clinical_indication": "Developmental delay"},
        files={1: ("NA12878_R1.fastq.gz", 50 * 1024**2), 2: ("NA12878_R2.fastq.gz", 50 * 1024**2)})
    started = timezone.now()
    sample.files.update(status="uploading", upload_started_at=started)
    sample.files.filter(read=1).update(status="uploaded", uploaded_at=started)
    page = open_sample(chromium, live_server, client, clinician, sample)

    assert step(page, "Received").get_attribute("data-timeline-state") == "current"
    assert "1 of 2 FASTQ files stored" in step(page, "Received").inner_text()
    assert "IN PROGRESS" in step(page, "Received").inner_text().upper()
    assert page.locator("[data-resume-form]").is_visible()
    assert step(page, "Verified").get_attribute("data-timeline-state") == "pending"
    screenshot(page, "timeline-1-uploading")

    sample.files.filter(read=2).update(status="uploaded", uploaded_at=timezone.now())
    Sample.objects.filter(pk=sample.pk).update(status="verifying")
    wait_for_step(page, "Received", "done")
    wait_for_step(page, "Verified", "current")
    assert "2 FASTQ files stored" in step(page, "Received").inner_text()
    assert page.locator("[data-resume-form]").count() == 0, "nothing is left to upload"
    screenshot(page, "timeline-2-verifying")

    verified_at = timezone.now()
    sample.files.update(status="verified", verified_at=verified_at, sha256="ab" * 32)
    Sample.objects.filter(pk=sample.pk).update(status="ready")
    wait_for_step(page, "Verified", "done")
    when = step(page, "Verified").locator(".tl-when").inner_text()
    assert when == timezone.localtime(verified_at).strftime("%Y-%m-%d %H:%M:%S")
    page.wait_for_selector("[data-submit-sample]", timeout=POLL_WAIT)
    assert page.locator("[data-sample-stage]").inner_text() == "Ready to submit"
    assert still_same_document(page), "the page changed without a reload"
    screenshot(page, "timeline-3-ready")


def test_the_timeline_follows_an_analysis_live(chromium, live_server, client, clinician, manager):
    sample = sample_create(membership=clinician, data={
        "name": "NA12879", "external_id": "PSN-0043", "sex": "male",
        "clinical_indication": "Seizures"},
        files={1: ("NA12879_R1.fastq.gz", 10), 2: ("NA12879_R2.fastq.gz", 10)})
    now = timezone.now()
    sample.files.update(status="verified", uploaded_at=now, verified_at=now, sha256="cd" * 32)
    Sample.objects.filter(pk=sample.pk).update(status="submitted")
    job = Job.objects.create(id=sample.job_id, lab=sample.lab, sample=sample,
                             submitted_by=clinician.user)
    page = open_sample(chromium, live_server, client, manager, sample)
    assert step(page, "Queued").get_attribute("data-timeline-state") == "current"
    assert step(page, "Running").get_attribute("data-timeline-state") == "pending"

    Job.objects.filter(pk=job.pk).update(status="running", started_at=timezone.now(), attempts=1,
                                         progress=[{"process": "FASTP", "status": "completed",
                                                    "duration_s": 1.5},
                                                   {"process": "BWA_MEM", "status": "running",
                                                    "duration_s": None}])
    wait_for_step(page, "Running", "current")
    assert step(page, "Queued").get_attribute("data-timeline-state") == "done"
    assert "BWA_MEM · running" in step(page, "Running").inner_text()
    assert page.locator("[data-sample-stage]").inner_text() == "Analysis running"
    screenshot(page, "timeline-4-running")

    qc = {**QC, "fail_limits": qc_fail_limits(None)}
    Job.objects.filter(pk=job.pk).update(status="succeeded", finished_at=timezone.now(), qc=qc,
                                         qc_verdict=qc_verdict(qc))
    wait_for_step(page, "Succeeded", "done")
    assert "QC failed" in step(page, "Succeeded").inner_text()
    assert page.locator("[data-sample-stage]").inner_text() == "Awaiting review"
    page.wait_for_selector("[data-qc-fail]", timeout=POLL_WAIT)
    assert page.locator("[data-current-job] [data-qc-verdict]").inner_text() == "QC failed"
    assert page.locator("[data-reanalyse]").count() == 1, "the run ended: a manager may start another"
    assert still_same_document(page), "the page changed without a reload"
    screenshot(page, "timeline-5-finished-qc-failed")

    page.click("[data-current-job] [data-job-link]")
    page.wait_for_selector("[data-job-verdict]")
    assert page.locator("[data-job-verdict]").inner_text() == "QC failed"
    screenshot(page, "job-qc-failed")
