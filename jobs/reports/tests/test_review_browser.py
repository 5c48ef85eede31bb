"""The whole clinician → manager → clinician flow in headless Chromium: upload (Intake), the
pipeline on the local runner, variant filtering, re-authenticated sign-out, and the clinician's
downloads checked against the stored SHA-256. Leaves screenshots of every page and of the PDF."""

import hashlib
import re
import subprocess

import pytest
from django.test import override_settings

from jobs.models import Job, JobOutput, Report
from tests.helpers import ARTIFACTS, make_user, screenshot
from storage import provisioning
from tenants.models import AuditEvent

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct-horse-battery-staple"
PIPELINE_SECONDS = 180_000  # ms: the pipeline runs inside the submit request (tasks are synchronous)


@pytest.fixture
def portal(live_server, pipeline_env):
    from tenants.services import lab_create, membership_add

    with override_settings(STORAGE_UPLOAD_ORIGINS=[live_server.url]):
        provisioning.apply()
        lab = lab_create(slug="lab-a", name="Lab A Genomics")
        membership_add(lab=lab, user=make_user("clinician@lab-a.test", first_name="Cleo",
                                               last_name="Clinician"), role="clinician")
        membership_add(lab=lab, user=make_user("manager@lab-a.test", first_name="Mona",
                                               last_name="Manager"), role="manager")
        yield live_server


def sign_in(chromium, portal, email):
    context = chromium.new_context(viewport={"width": 1280, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.goto(portal.url + "/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/labs/lab-a/$"))
    return context, page


def download(page, reason="clinical_care"):
    """On a download-reason page: choose the reason, submit, and return the saved bytes."""
    page.check(f"input[name=reason][value={reason}]")
    with page.expect_download() as info:
        page.click("form button[type=submit]")
    return open(info.value.path(), "rb").read()


def test_upload_run_review_sign_out_and_download(chromium, portal, pipeline_env):
    clinician_ctx, page = sign_in(chromium, portal, "clinician@lab-a.test")
    page.goto(portal.url + "/labs/lab-a/samples/new/")
    page.fill("input[name=name]", "TEST1")
    page.fill("input[name=external_id]", "PSN-0042")
    page.select_option("select[name=sex]", "female")
    page.fill("textarea[name=clinical_indication]", "Dilated cardiomyopathy, family history")
    page.fill("input[name=hpo_terms]", "HP:0001644")
    page.check("input[name=consent]")
    page.set_input_files("input[name=r1]", str(pipeline_env / "TEST1_R1.fastq.gz"))
    page.set_input_files("input[name=r2]", str(pipeline_env / "TEST1_R2.fastq.gz"))
    page.click("button[type=submit]")
    page.wait_for_selector("[data-submit-sample]", timeout=60_000)
    page.click("[data-submit-sample]", timeout=5_000, no_wait_after=True)
    page.wait_for_selector('[data-job-status="succeeded"]', timeout=PIPELINE_SECONDS)
    job = Job.objects.get()
    screenshot(page, "e2e-1-clinician-job-succeeded")
    assert page.locator("[data-qc]").count() == 1
    assert "once a lab manager has signed the report out" in page.content()
    assert page.locator("[data-download]").count() == 0
    page.goto(portal.url + f"/labs/lab-a/samples/{job.sample_id}/")
    assert page.locator('[data-timeline-step="In review"]').get_attribute(
        "data-timeline-state") == "current"
    screenshot(page, "e2e-2-clinician-sample-timeline")
    assert page.goto(portal.url + f"/labs/lab-a/jobs/{job.pk}/report/").status == 404

    manager_ctx, mpage = sign_in(chromium, portal, "manager@lab-a.test")
    mpage.click("text=Reviews")
    mpage.wait_for_selector("[data-review-queue]")
    screenshot(mpage, "e2e-3-manager-review-queue")
    mpage.click("[data-review-queue] a:has-text('Review')")
    mpage.wait_for_selector('[data-report-status="pending_review"]')
    mpage.click("text=Variant table")
    mpage.wait_for_selector("table")
    total = job.variants.count()
    assert total > 0
    expected = job.variants.filter(filter="PASS", impact__in=["HIGH", "MODERATE"]).count()
    assert 0 < expected < total
    mpage.check("input[name=pass_only]")
    mpage.check("input[name=impact][value=HIGH]")
    mpage.check("input[name=impact][value=MODERATE]")
    mpage.click(".variant-filters button[type=submit]")
    mpage.wait_for_selector(f'[data-variant-count="{expected}"]')
    assert mpage.locator("[data-variant]").count() == min(expected, 50)
    screenshot(mpage, "e2e-4-manager-variants-filtered")
    mpage.go_back()
    mpage.goto(portal.url + f"/labs/lab-a/jobs/{job.pk}/report/")
    report = Report.objects.get()
    mpage.click("[data-download=draft]")
    draft = download(mpage, "lab_review")
    assert hashlib.sha256(draft).hexdigest() == report.draft_sha256
    mpage.goto(portal.url + f"/labs/lab-a/jobs/{job.pk}/report/")
    mpage.fill("[data-sign-form] input[name=password]", "not-my-password")
    mpage.check("[data-sign-form] input[name=confirm]")
    mpage.click("[data-sign-form] button[type=submit]")
    assert "Re-authentication failed" in mpage.content()
    mpage.check("[data-sign-form] input[name=confirm]")
    mpage.fill("[data-sign-form] textarea[name=comment]", "Findings consistent with the phenotype.")
    mpage.fill("[data-sign-form] input[name=password]", PASSWORD)
    screenshot(mpage, "e2e-5-manager-sign-out-form")
    mpage.click("[data-sign-form] button[type=submit]")
    mpage.wait_for_selector('[data-report-status="signed_out"]')
    screenshot(mpage, "e2e-6-manager-signed-out")
    report.refresh_from_db()
    assert report.status == "signed_out"

    page.goto(portal.url + f"/labs/lab-a/jobs/{job.pk}/report/")
    screenshot(page, "e2e-7-clinician-report")
    page.click("[data-download=signed]")
    pdf = download(page)
    assert hashlib.sha256(pdf).hexdigest() == report.signed_sha256
    table = JobOutput.objects.get(job=job, path="TEST1_Final_.txt")
    page.goto(portal.url + f"/labs/lab-a/jobs/{job.pk}/")
    page.click('[data-download="TEST1_Final_.txt"]')
    tsv = download(page)
    assert hashlib.sha256(tsv).hexdigest() == table.sha256
    page.goto(portal.url + f"/labs/lab-a/samples/{job.sample_id}/")
    assert page.locator('[data-timeline-step="Signed out"]').get_attribute(
        "data-timeline-state") == "done"
    screenshot(page, "e2e-8-clinician-timeline-signed")

    # The PDF's pages, as images to look at.
    pdf_path = ARTIFACTS / "e2e-report-signed.pdf"
    pdf_path.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "70", str(pdf_path), str(ARTIFACTS / "e2e-report-page")],
                   check=True)
    assert (ARTIFACTS / "e2e-report-page-1.png").exists()

    rows = AuditEvent.objects.order_by("id").values_list(
        "id", "actor_email", "action", "resource_type", "phi_accessed", "data_exported")
    (ARTIFACTS / "e2e-audit-rows.txt").write_text(
        "\n".join(" | ".join(str(v) for v in row) for row in rows) + "\n")
    actions_seen = [r[2] for r in rows]
    for action in ("upload.completed", "sample.submitted", "job.succeeded", "report.drafted",
                   "variants.viewed", "report.reauth_failed", "report.signed_out",
                   "report.downloaded", "output.downloaded"):
        assert action in actions_seen, action
    clinician_ctx.close()
    manager_ctx.close()
