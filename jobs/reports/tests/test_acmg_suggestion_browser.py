"""The suggested ACMG/AMP class follows the criteria while the reviewer ticks them, before any
final class is chosen (htmx used to validate the whole form first, and the empty, required final
class halted every update: the page kept saying "Uncertain significance")."""

import pytest

from jobs.models import Variant
from jobs.reports.tests.test_reports import finished_job, succeeded_job  # noqa: F401 (fixtures)
from jobs.results.tests.test_variants import make_job  # noqa: F401 (fixture)
from tests.helpers import browser_page_as, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_suggestion_follows_the_ticked_criteria_before_a_final_class_is_chosen(
        chromium, live_server, client, manager, finished_job):  # noqa: F811
    job = finished_job
    variant = Variant.objects.create(lab=job.lab, job=job, variant_id="WES-SUGGEST1",
                                     chrom="chr1", pos=2863, ref="A", alt="C", genotype="1/1",
                                     gene="SIM1", gene_sort="SIM0000000001")
    page = browser_page_as(chromium, live_server, client, manager.user)
    page.goto(f"{live_server.url}/labs/lab-a/jobs/{job.pk}/variants/{variant.pk}/")
    suggested = page.locator("#acmg-suggested")
    assert suggested.get_attribute("data-suggested") == "Uncertain significance"
    assert page.locator("select[name=final_class]").input_value() == ""

    page.check("input[name=met_PVS1]")
    page.check("input[name=met_PM2]")
    page.wait_for_selector('#acmg-suggested[data-suggested="Likely pathogenic"]', timeout=5_000)
    page.check("input[name=met_PP3]")
    page.wait_for_selector('#acmg-suggested[data-suggested="Pathogenic"]', timeout=5_000)
    page.select_option("select[name=strength_PVS1]", "strong")   # PS + PM + PP: likely
    page.wait_for_selector('#acmg-suggested[data-suggested="Likely pathogenic"]', timeout=5_000)
    screenshot(page, "review-suggestion-follows-criteria")
