"""Review ergonomics in headless Chromium (issue 13 item 11): genes in natural order in the
variant viewer, and a refused sign-out whose errors are where the manager is looking. Leaves
screenshots under test-artifacts/ (review-ergonomics-*)."""

import re

import pytest

from jobs.models import Variant, VariantSelection
from jobs.reports.tests.test_reports import (PASSWORD, finished_job,  # noqa: F401 (fixtures)
                                             succeeded_job)
from jobs.results.tests.test_variants import NATURAL, make_job, numbered_genes  # noqa: F401
from tests.helpers import ARTIFACTS, browser_page_as, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
VIEWPORT = 900


def genes_shown(page) -> list[str]:
    return [g for g in page.locator("[data-variant] td.gene").all_inner_texts() if g != "–"]


def test_a_manager_sorts_genes_in_natural_order(chromium, live_server, client, manager,
                                                numbered_genes):  # noqa: F811
    page = browser_page_as(chromium, live_server, client, manager.user, height=VIEWPORT)
    page.goto(f"{live_server.url}/labs/lab-a/jobs/{numbered_genes.pk}/variants/?max_af_pct=")
    page.click("th a[data-sort=gene]")
    page.wait_for_selector("th[aria-sort=ascending] a[data-sort=gene]")
    assert genes_shown(page) == ["C1orf112", "C10orf90", "SIM1", "SIM2", "SIM3", "SIM10",
                                 "SIM10", "SIM10A", "SIM21"]
    screenshot(page, "review-ergonomics-genes-ascending")
    page.click("th a[data-sort=gene]")
    page.wait_for_selector("th[aria-sort=descending] a[data-sort=gene]")
    assert genes_shown(page)[:4] == ["SIM21", "SIM10A", "SIM10", "SIM10"]
    screenshot(page, "review-ergonomics-genes-descending")


def test_a_refused_sign_out_shows_its_errors_at_the_top_and_next_to_the_field(
        chromium, live_server, client, manager, finished_job):  # noqa: F811
    # Forty selected variants make the page as long as a real review's (the sign form far down).
    job = finished_job
    rows = [Variant.objects.create(lab=job.lab, job=job, variant_id=f"WES-LONG{i:04d}",
                                   chrom="chr3", pos=5000 + i, ref="A", alt="G", genotype="0/1",
                                   gene=f"SIM{i}", gene_sort=f"SIM{i:010d}")
            for i in range(40)]
    VariantSelection.objects.bulk_create(VariantSelection(lab=job.lab, job=job, variant=v,
                                                          category="primary",
                                                          selected_by=manager.user) for v in rows)
    page = browser_page_as(chromium, live_server, client, manager.user, height=VIEWPORT)
    page.goto(f"{live_server.url}/labs/lab-a/jobs/{job.pk}/report/")
    form = page.locator("[data-sign-form]")
    assert form.bounding_box()["y"] > 2 * VIEWPORT   # far below the top, as reported
    form.locator("input[name=password]").fill(PASSWORD)   # but the meaning is not ticked
    form.locator("button[type=submit]").click()
    page.wait_for_selector("#error-summary")

    summary = page.locator("#error-summary")
    assert page.evaluate("document.activeElement.id") == "error-summary"
    box = summary.bounding_box()
    assert 0 <= box["y"] and box["y"] + box["height"] <= VIEWPORT
    assert "Nothing was changed: one thing needs your attention" in summary.inner_text()
    link = summary.locator("a[data-error-for=id_confirm]")
    assert link.inner_text() == ("Tick the box to confirm the meaning of your signature "
                                 "(“Reviewed and approved”).")
    page.screenshot(path=str(ARTIFACTS / "review-ergonomics-sign-out-refused-viewport.png"))
    screenshot(page, "review-ergonomics-sign-out-refused-full")

    link.click()
    page.wait_for_url(re.compile(r".*#id_confirm$"))
    checkbox = page.locator("#id_confirm").bounding_box()
    assert 0 <= checkbox["y"] <= VIEWPORT
    field_error = page.locator("[data-sign-form] .field:has(#id_confirm) .errorlist")
    assert field_error.inner_text() == link.inner_text()
    error_box = field_error.bounding_box()
    assert 0 <= error_box["y"] <= VIEWPORT
    page.screenshot(path=str(ARTIFACTS / "review-ergonomics-sign-out-field-error.png"))
    assert job.reports.get().status == "pending_review"


def test_the_lab_home_lists_what_needs_doing_with_links(chromium, live_server, client, manager,
                                                        clinician):
    from jobs.reports.tests.test_lab_home import stock

    stock(manager.lab, manager.user, 3)
    page = browser_page_as(chromium, live_server, client, manager.user, height=VIEWPORT)
    page.goto(f"{live_server.url}/labs/lab-a/")
    assert page.locator("[data-pending-review]").count() == 3
    screenshot(page, "review-ergonomics-lab-home-manager")
    page.click("[data-pending-review=SPEND1] a")
    page.wait_for_url(re.compile(r".*/jobs/[0-9a-f-]+/report/$"))
    assert page.locator("h1").inner_text() == "Report for SPEND1"

    page = browser_page_as(chromium, live_server, client, clinician.user, height=VIEWPORT)
    page.goto(f"{live_server.url}/labs/lab-a/")
    assert page.locator("[data-pending-review]").count() == 0
    assert page.locator("[data-signed-report]").count() == 3
    assert page.locator("[data-ready-sample]").count() == 3
    screenshot(page, "review-ergonomics-lab-home-clinician")


def test_a_clinician_reads_the_sample_history_in_words(chromium, live_server, client, manager,
                                                       clinician, finished_job):  # noqa: F811
    from jobs.reports.tests.test_reports import fetch_pdf, sign

    report = finished_job.reports.get()
    manager_client = client.__class__()
    manager_client.force_login(manager.user)
    assert sign(manager_client, report).status_code == 302
    clinician_client = client.__class__()
    clinician_client.force_login(clinician.user)
    fetch_pdf(clinician_client, report.__class__.objects.get(pk=report.pk))

    page = browser_page_as(chromium, live_server, client, clinician.user, height=VIEWPORT)
    page.goto(f"{live_server.url}/labs/lab-a/samples/{finished_job.sample_id}/")
    history = page.locator("h2:has-text('History') + table").inner_text()
    assert "Report downloaded" in history and "reason: Clinical care of this patient" in history
    assert "report.downloaded" not in history and "clinical_care" not in history
    page.locator("h2:has-text('History')").scroll_into_view_if_needed()
    screenshot(page, "review-ergonomics-sample-history-clinician")
    page.goto(f"{live_server.url}/labs/lab-a/jobs/{finished_job.pk}/")
    outputs = page.locator("h2:has-text('Outputs') + table").inner_text()
    assert "Kept with the results" in outputs and "results" not in outputs.split("\n")[0]
    screenshot(page, "review-ergonomics-job-outputs-clinician")
