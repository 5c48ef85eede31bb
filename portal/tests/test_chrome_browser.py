"""The header and the status badges stay on one line each in a 1280-pixel-wide window: a lab
manager's header used to break "WES Portal", the lab's name, "Two-factor" and "Log out" over two
lines each, and badges such as "Ready to submit" split in half inside their pill."""

import pytest
from django.utils import timezone

from jobs.models import Sample
from tests.helpers import browser_page_as, screenshot
from tests.upload_client import sample_fields

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def lines(locator) -> list[float]:
    """Each element's height in lines of its own text."""
    return locator.evaluate_all(
        "els => els.map(e => e.getBoundingClientRect().height"
        " / parseFloat(getComputedStyle(e).lineHeight))")


def test_header_links_and_badges_do_not_wrap(chromium, live_server, client, manager, lab_a):
    lab_a.name = "Demo Genomics Laboratory of the North"
    lab_a.save()
    fields = sample_fields()
    for i in range(3):
        Sample.objects.create(lab=lab_a, name=f"S{i}", external_id=f"PSN-{i}", sex="female",
                              clinical_indication=fields["clinical_indication"],
                              status="ready", created_by=manager.user,
                              consent_confirmed_at=timezone.now())
    page = browser_page_as(chromium, live_server, client, manager.user, width=1280)
    page.goto(f"{live_server.url}/labs/lab-a/samples/")
    screenshot(page, "chrome-header-and-badges-1280")
    header = lines(page.locator(".topbar a, .topbar .who"))
    assert header and max(header) < 1.5, header
    badges = lines(page.locator("td .status"))
    assert len(badges) == 3 and max(badges) < 1.5, badges
