"""The small things every page carries: the icon, and words that match the portal's own."""

import pytest

pytestmark = pytest.mark.django_db


def test_every_page_names_an_icon_that_is_served(client):
    page = client.get("/accounts/login/").content.decode()
    assert '<link rel="icon" href="/static/img/favicon.svg" type="image/svg+xml">' in page
    icon = client.get("/static/img/favicon.svg")
    assert icon.status_code == 200 and b"<svg" in b"".join(icon.streaming_content)
    legacy = client.get("/favicon.ico")   # asked for by pages without the link (the admin)
    assert legacy.status_code == 301 and legacy["Location"] == "/static/img/favicon.svg"


def test_the_log_out_page_says_log_out_like_the_menu(client_for, clinician):
    page = client_for(clinician).get("/accounts/logout/").content.decode()
    assert "<title>Log out · WES Portal</title>" in " ".join(page.split()).replace("> ", ">") \
        .replace(" <", "<")
    assert "Sign Out" not in page and "Log out of WES Portal on this browser?" in page
