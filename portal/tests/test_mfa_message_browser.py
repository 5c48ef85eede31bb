"""A manager who signs in without an authenticator lands on the two-factor set-up page without
being told "Logged in as …": the sign-in is not done until the second factor is."""

import pytest

from tests.helpers import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_setup_page_does_not_say_logged_in(chromium, live_server, manager):
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(live_server.url + "/accounts/login/")
    page.fill("input[name=login]", "manager@lab-a.test")
    page.fill("input[name=password]", "correct-horse-battery-staple")
    page.click("button[type=submit]")
    page.wait_for_url("**/accounts/2fa/totp/activate/")
    screenshot(page, "mfa-setup-no-logged-in-message")
    assert "Set up two-factor authentication" in page.inner_text("body")
    assert "Logged in as" not in page.inner_text("body")
    context.close()
