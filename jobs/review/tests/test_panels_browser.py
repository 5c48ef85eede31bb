"""The panel pages in Chromium: arriving from an HPO suggestion ("Make a panel of them") puts the
prefilled new-panel form first, above the panel list and the saved filters."""

import pytest

from tests.helpers import browser_page_as, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def top(page, selector) -> float:
    return page.locator(selector).bounding_box()["y"]


def test_a_suggested_panel_opens_with_its_form_first(chromium, live_server, client, manager):
    page = browser_page_as(chromium, live_server, client, manager.user, width=1280)
    page.goto(f"{live_server.url}/labs/lab-a/panels/?name=HP%3A0000252&genes=ASPM%0AMCPH1")
    screenshot(page, "panels-prefilled-form-first")
    assert page.input_value("[data-panel-form] [name=name]") == "HP:0000252"
    assert top(page, "[data-panel-form]") < top(page, "[data-presets]")
    assert top(page, "[data-panel-form]") < top(page, "text=The lab has no panels yet.")
    # Without a suggestion the list comes first, the form last.
    page.goto(f"{live_server.url}/labs/lab-a/panels/")
    assert top(page, "[data-panel-form]") > top(page, "[data-presets]")
    page.context.close()
