"""The API token pages: a member creates a token (secret shown once), lists and revokes their
own; a lab's managers list and revoke the lab's tokens; clinicians and other labs cannot."""

import pytest

from tenants.api_tokens import authenticate, token_create
from tenants.models import ApiToken, AuditEvent

pytestmark = pytest.mark.django_db


def test_a_member_creates_a_token_and_sees_the_secret_once(client_for, clinician):
    client = client_for(clinician)
    response = client.post("/tokens/", {"lab": "lab-a", "name": "sequencer PC", "days": 30,
                                        "scope": "upload"})
    assert response.status_code == 200
    text = response.context["created"]["text"]
    assert text.startswith("wes_") and text in response.content.decode()
    token = authenticate(text)
    assert (token.user, token.lab.slug, token.scope) == (clinician.user, "lab-a", "upload")
    again = client.get("/tokens/")
    assert text not in again.content.decode() and "sequencer PC" in again.content.decode()
    assert AuditEvent.objects.filter(action="api_token.created",
                                     details__token_id=token.prefix).exists()


def test_the_form_refuses_more_than_90_days_and_unknown_labs(client_for, clinician):
    client = client_for(clinician)
    for data in ({"lab": "lab-a", "name": "x", "days": 91, "scope": "read"},
                 {"lab": "lab-b", "name": "x", "days": 30, "scope": "read"},
                 {"lab": "lab-a", "name": "", "days": 30, "scope": "read"},
                 {"lab": "lab-a", "name": "x", "days": 30, "scope": "manager"}):
        response = client.post("/tokens/", data)
        assert response.status_code == 400, data
    assert not ApiToken.objects.exists()


def test_the_owner_revokes_their_token(client_for, clinician):
    row, text = token_create(membership=clinician, name="laptop", days=7, scope="read")
    client = client_for(clinician)
    response = client.post(f"/tokens/{row.pk}/revoke/")
    assert response.status_code == 302
    row.refresh_from_db()
    assert row.revoked_at and row.revoked_by == clinician.user.email
    assert "Revoked" in client.get("/tokens/").content.decode()


def test_nobody_else_revokes_it_from_the_profile_page(client_for, clinician, manager, outsider):
    row, _ = token_create(membership=clinician, name="laptop", days=7, scope="read")
    for other in (manager, outsider):
        assert client_for(other).post(f"/tokens/{row.pk}/revoke/").status_code == 404
    row.refresh_from_db()
    assert row.revoked_at is None


def test_managers_list_and_revoke_the_labs_tokens(client_for, clinician, manager, outsider):
    row, _ = token_create(membership=clinician, name="laptop", days=7, scope="read")
    client = client_for(manager)
    page = client.get("/labs/lab-a/tokens/")
    assert page.status_code == 200
    assert "clinician@lab-a.test" in page.content.decode() and row.prefix in page.content.decode()
    assert client.post(f"/labs/lab-a/tokens/{row.pk}/revoke/").status_code == 302
    row.refresh_from_db()
    assert row.revoked_by == manager.user.email
    event = AuditEvent.objects.filter(action="api_token.revoked").get()
    assert event.actor_email == manager.user.email and event.details["token_id"] == row.prefix


def test_clinicians_and_other_labs_do_not_see_the_labs_tokens(client_for, clinician, manager,
                                                               outsider):
    row, _ = token_create(membership=manager, name="laptop", days=7, scope="read")
    assert client_for(clinician).get("/labs/lab-a/tokens/").status_code == 403
    assert client_for(outsider).get("/labs/lab-a/tokens/").status_code == 404
    assert client_for(outsider).post(f"/labs/lab-b/tokens/{row.pk}/revoke/").status_code == 404
    row.refresh_from_db()
    assert row.revoked_at is None


def test_removing_a_member_shows_their_tokens_as_dead(client_for, clinician, manager):
    token_create(membership=clinician, name="laptop", days=7, scope="read")
    client = client_for(manager)
    client.post(f"/labs/lab-a/members/{clinician.pk}/remove/")
    assert "Member removed" in client.get("/labs/lab-a/tokens/").content.decode()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_token_page_in_chromium_then_the_token_works(chromium, live_server, client,
                                                         clinician):
    """From the header to a working token: create it, copy the text shown once, call the API."""
    import requests

    from tests.helpers import browser_page_as, screenshot

    page = browser_page_as(chromium, live_server, client, clinician.user, width=1200, height=800)
    page.goto(live_server.url + "/labs/lab-a/")
    page.click("text=API tokens")
    page.fill("input[name=name]", "sequencer PC")
    page.select_option("select[name=scope]", "upload")
    page.click("button:has-text('Create token')")
    text = page.locator("[data-token-text]").inner_text().strip()
    assert text.startswith("wes_")
    screenshot(page, "api-token-created")
    answer = requests.get(live_server.url + "/api/v1/labs", timeout=10,
                          headers={"Authorization": f"Bearer {text}"})
    assert answer.status_code == 200 and answer.json()["items"][0]["slug"] == "lab-a"
    page.goto(live_server.url + "/tokens/")
    assert text not in page.content() and "sequencer PC" in page.content()
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button:has-text('Revoke')")
    page.wait_for_selector("text=was revoked")
    screenshot(page, "api-token-revoked")
    assert requests.get(live_server.url + "/api/v1/labs", timeout=10,
                        headers={"Authorization": f"Bearer {text}"}).status_code == 401
