"""The small things every page carries: the icon, and words that match the portal's own."""

import re

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


def test_logging_out_of_the_admin_says_so_in_the_portals_words(client_for, db):
    from tests.helpers import make_user

    client = client_for(make_user("ops@portal.test", is_staff=True))
    page = client.post("/admin/logout/").content.decode()
    assert "You have logged out of WES Portal on this browser." in page
    assert "quality time" not in page


def test_the_admin_home_links_the_operations_pages(client_for, db):
    from tests.helpers import make_user

    page = client_for(make_user("root@portal.test", is_staff=True, is_superuser=True)) \
        .get("/admin/").content.decode()
    for url in ("/admin/usage/", "/admin/storage-dashboard/", "/admin/retention/"):
        assert f'<a href="{url}">' in page
    assert "#operations-module th { white-space: nowrap;" in page  # not one letter per line


def test_small_compute_times_do_not_read_as_zero_hours():
    from portal.templatetags.portal_format import hours_2dp

    assert [hours_2dp(h) for h in (1234.567, 1.0, 0.5, 0.003, 0.0, None)] == [
        "1,234.57", "1.00", "0.50", "< 0.01", "0.00", "–"]


def test_logging_in_and_out_use_the_same_words_as_the_menu(client, clinician):
    page = client.get("/accounts/login/").content.decode()
    assert "<title>Log in · WES Portal</title>" in page.replace("\n", "").replace("    ", "")
    assert "Sign In" not in page
    landed = client.post("/accounts/login/", {"login": clinician.user.email,
                                              "password": "correct-horse-battery-staple"},
                         follow=True).content.decode()
    assert re.search(r"Logged in as [^<]*clinician", landed), landed[:2000]
    left = client.post("/accounts/logout/", follow=True).content.decode()
    assert "You have logged out." in left and "signed out" not in left
