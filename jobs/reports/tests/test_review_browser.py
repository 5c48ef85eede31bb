"""The whole clinician → manager → clinician flow in headless Chromium: upload (Intake), the
pipeline on the local runner, review (a panel from the sample's HPO terms, frequency and ClinVar
filters, two classifications, one selection), re-authenticated sign-out of a report that lists
exactly the selection, the clinician's downloads checked against the stored SHA-256, and the
lab's next sample showing the earlier classifications. Leaves screenshots of every page and of
the PDF."""

import hashlib
import re
import subprocess

import pytest
from django.test import override_settings

from jobs.models import Classification, Job, JobOutput, Report, VariantSelection
from jobs.results.tests.test_variants import make_job
from jobs.results.variant_table import load_variants
from jobs.results.variants import clinvar_group
from storage import s3
from storage.buckets import bucket_name
from tests.helpers import ARTIFACTS, enter_totp_code, give_totp, make_user, screenshot
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
        manager = membership_add(lab=lab, user=make_user("manager@lab-a.test", first_name="Mona",
                                                         last_name="Manager"), role="manager")
        give_totp(manager.user)     # managers must use an authenticator app
        yield live_server


def sign_in(chromium, portal, email):
    context = chromium.new_context(viewport={"width": 1280, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.goto(portal.url + "/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    if email.startswith("manager"):
        enter_totp_code(page)
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
    page.fill("input[name=hpo_terms]", "HP:0000252")  # microcephaly
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
    # The sample's HPO term suggests a panel from the bundle's HPO file: make it the lab's.
    mpage.wait_for_selector("[data-hpo-suggestion]")
    screenshot(mpage, "e2e-4a-manager-variants-default")
    mpage.click("[data-hpo-suggestion] button")
    mpage.wait_for_selector("[data-panel-form]")
    mpage.click("[data-panel-form] button[type=submit]")
    mpage.wait_for_selector("[data-versions]")
    version = lab_panel_version()
    assert version.genes, "the panel holds the HPO term's genes"
    mpage.goto(portal.url + f"/labs/lab-a/jobs/{job.pk}/variants/")
    mpage.select_option("select[name=panel]", str(version.pk))
    mpage.check("input[name=clinvar][value=pathogenic]")
    candidates = [v for v in job.variants.filter(gene__in=version.genes).order_by("id")
                  if (v.gnomad_af is None or v.gnomad_af <= 0.01)
                  and clinvar_group(v.clinvar_significance) == "pathogenic"]
    assert 2 <= len(candidates) <= 10, "a handful of candidates"
    mpage.click(".variant-filters button[type=submit]")
    mpage.wait_for_selector(f'[data-variant-count="{len(candidates)}"]')
    assert mpage.locator("[data-variant]").count() == len(candidates)
    assert mpage.locator("[data-panel-coverage]").count() == 1
    screenshot(mpage, "e2e-4-manager-variants-panel-rare-clinvar")

    reported, other = candidates[0], candidates[1]
    classify_in_browser(mpage, reported, ["PVS1", "PM2"], "likely_pathogenic")
    assert mpage.locator('[data-current-class="likely_pathogenic"]').count() == 1
    mpage.check("[data-select-form] input[name=category][value=primary]")
    mpage.click("[data-select-form] button[type=submit]")
    mpage.wait_for_selector('[data-select-form] [data-selected="primary"]')
    screenshot(mpage, "e2e-4b-manager-variant-classified-selected")
    mpage.click("text=← Variants of TEST1")
    mpage.wait_for_selector(f'[data-variant-count="{len(candidates)}"]')
    assert mpage.locator(f'[data-variant="{reported.variant_id}"] [data-selected]').count() == 1
    classify_in_browser(mpage, other, ["PM2", "PP3"], "uncertain")
    assert Classification.objects.count() == 2
    assert [s.variant_id for s in VariantSelection.objects.all()] == [reported.pk]

    mpage.goto(portal.url + f"/labs/lab-a/jobs/{job.pk}/report/")
    assert mpage.locator("[data-review-changed]").count() == 1
    mpage.fill("input[name=result_summary]",
               f"Likely pathogenic variant in {reported.gene}, consistent with microcephaly.")
    mpage.select_option("select[name=panel_version]", str(version.pk))
    mpage.click("text=Save draft")
    mpage.wait_for_selector('[data-selected-variants="1"]')
    assert mpage.locator("[data-review-changed]").count() == 0
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
    text = pdf_text(pdf)
    assert reported.variant_id in text and other.variant_id not in text
    assert f"Likely pathogenic variant in {reported.gene}, consistent with microcephaly." in text
    assert "PVS1, PM2" in text and f"Gene panel: {version}" in text
    assert "gnomAD 4.1-sim" in text and "ClinVar 20240512-sim" in text and "snpEff 5.1" in text
    assert sum(v.variant_id in text for v in job.variants.all()) == 1, "only the selection"

    # The lab's next sample with the same variants shows what the lab decided about them.
    second = make_job(Job.objects.get(pk=job.pk).submitted_by.memberships.get(), "TEST2")
    body = s3.open_object(bucket_name(table.bucket_role), table.key).read().decode()
    load_variants(job=second, lines=[line.replace("\tTEST1\t", "\tTEST2\t")
                                     for line in body.splitlines(keepends=True)])
    mpage.goto(portal.url + f"/labs/lab-a/jobs/{second.pk}/variants/?max_af_pct=&gene="
               + ",".join(sorted({reported.gene, other.gene})))
    mpage.wait_for_selector("[data-variant-count]")
    assert mpage.locator('[data-class="likely_pathogenic"]').count() == 1
    assert mpage.locator('[data-class="uncertain"]').count() == 1
    screenshot(mpage, "e2e-9-manager-second-sample-classified-before")

    rows = AuditEvent.objects.order_by("id").values_list(
        "id", "actor_email", "action", "resource_type", "phi_accessed", "data_exported")
    (ARTIFACTS / "e2e-audit-rows.txt").write_text(
        "\n".join(" | ".join(str(v) for v in row) for row in rows) + "\n")
    actions_seen = [r[2] for r in rows]
    for action in ("upload.completed", "sample.submitted", "job.succeeded", "report.drafted",
                   "variants.viewed", "panel.created", "variant.classified", "variant.selected",
                   "report.draft_updated", "report.reauth_failed", "report.signed_out",
                   "report.downloaded", "output.downloaded"):
        assert action in actions_seen, action
    clinician_ctx.close()
    manager_ctx.close()


def lab_panel_version():
    from jobs.models import GenePanelVersion

    return GenePanelVersion.objects.select_related("panel").get()


def classify_in_browser(page, variant, criteria, final_class):
    page.click(f'[data-variant="{variant.variant_id}"] a[data-classify]')
    page.wait_for_selector("[data-classify-form]")
    for code in criteria:
        page.check(f"[data-classify-form] input[name=met_{code}]")
    page.select_option("[data-classify-form] select[name=final_class]", final_class)
    page.click("[data-classify-form] button[type=submit]")
    page.wait_for_selector(f'[data-current-class="{final_class}"]')


def pdf_text(data: bytes) -> str:
    import io

    from pypdf import PdfReader

    return re.sub(r"\s+", " ", " ".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages))
