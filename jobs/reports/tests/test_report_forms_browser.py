"""The report's and the panels' forms in Chromium: each field's label above it and its help text
below it, as on the sample form, not Django's inline "Label: [field] help" rows."""

import pytest

from jobs.reports.tests.test_reports import finished_job, report_url, succeeded_job  # noqa: F401
from tests.helpers import browser_page_as, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def box(page, selector) -> dict:
    return page.locator(selector).first.bounding_box()


def assert_stacked(page, form, name):
    field = f"{form} .field-{name}"
    label, control = box(page, f"{field} > label"), box(page, f"{field} [name={name}]")
    assert label["y"] + label["height"] <= control["y"] + 1, (name, label, control)
    assert abs(label["x"] - control["x"]) < 2, (name, label, control)
    if page.locator(f"{field} > small").count():
        help_text = box(page, f"{field} > small")
        assert help_text["y"] >= control["y"] + control["height"] - 1, (name, help_text, control)


def test_the_report_forms_put_labels_above_and_help_below(chromium, live_server, client, manager,
                                                          finished_job):  # noqa: F811
    page = browser_page_as(chromium, live_server, client, manager.user, width=1280)
    page.goto(live_server.url + report_url(finished_job))
    for name in ("result_summary", "panel_version", "interpretation"):
        assert_stacked(page, "form:has([name=result_summary])", name)
    assert_stacked(page, "[data-sign-form]", "password")
    screenshot(page, "report-forms-stacked")

    page.goto(f"{live_server.url}/labs/lab-a/panels/")
    for name in ("name", "description", "genes"):
        assert_stacked(page, "[data-panel-form]", name)
    screenshot(page, "panel-form-stacked")
    page.context.close()
