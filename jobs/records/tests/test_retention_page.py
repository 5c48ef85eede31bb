"""The retention page: bucket rules as configured vs as the server has them, the re-apply button,
jobs under legal hold and jobs due for archiving (real S3 server)."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from jobs.models import Job, Sample
from tests.helpers import enter_totp_code, give_totp, make_user, screenshot
from storage import bucket_config
from storage.buckets import bucket_name
from tenants import audit_actions
from tenants.models import AuditEvent

pytestmark = pytest.mark.django_db
URL = "/admin/retention/"
PASSWORD = "correct-horse-battery-staple"


def make_job(lab, name, *, finished_days_ago, **fields) -> Job:
    user = make_user(f"{name.lower()}@lab-a.test")
    now = timezone.now()
    sample = Sample.objects.create(lab=lab, name=name, external_id=f"PSN-{name}", sex="female",
                                   clinical_indication="Epilepsy", consent_confirmed_at=now,
                                   created_by=user, status="submitted")
    return Job.objects.create(id=sample.job_id, lab=lab, sample=sample, status="succeeded",
                              submitted_by=user,
                              finished_at=now - timedelta(days=finished_days_ago), **fields)


@pytest.fixture
def staff(db):
    return make_user("ops@portal.test", password=PASSWORD, is_staff=True, is_superuser=True)


def drift_the_server():
    """What an operator might do by hand: default encryption off on results, no lifecycle on logs.
    (Versioning cannot be switched off: the server refuses it on a bucket with object lock.)"""
    bucket_config.remove_default_encryption(bucket_name("results"))
    bucket_config.set_lifecycle_rules(bucket_name("logs"), [])


def test_it_shows_each_bucket_rule_against_the_server(client_for, staff, provisioned_s3):
    page = client_for(staff).get(URL).content.decode()
    for role in ("raw", "intermediate", "results", "archives", "reference", "logs"):
        assert f'data-bucket="{role}"' in page
    assert bucket_name("archives") in page and "wes-archives-expire-2555d" in page
    assert "data-drift" not in page and "Re-apply" not in page

    drift_the_server()
    page = client_for(staff).get(URL).content.decode()
    results = page.split('data-bucket="results"')[1].split('data-bucket="')[0]
    assert re.search(r'<tr class="drift" data-aspect="encryption">\s*<td>encryption</td>'
                     r'<td>SSE-S3 \(AES256\) by default</td><td class="server">none</td>', results)
    assert re.search(r'data-aspect="object lock">\s*<td>object lock</td>'
                     r'<td>enabled \(for legal holds\)</td><td class="server">enabled', results)
    logs = page.split('data-bucket="logs"')[1]
    assert re.search(r'data-aspect="lifecycle">\s*<td>lifecycle</td><td>wes-logs-expire-365d '
                     r'\[Enabled\] expire=365d noncurrent=365d</td><td class="server">no rules</td>', logs)
    assert page.count("data-drift") == 2
    assert f"Re-apply the rules of {bucket_name('results')}" in page


def test_the_button_reapplies_one_buckets_rules_and_is_audited(client_for, staff,
                                                               provisioned_s3):
    drift_the_server()
    response = client_for(staff).post(URL, {"bucket": "results"}, follow=True)
    page = response.content.decode()
    assert f"Re-applied: {bucket_name('results')}: encryption set to SSE-S3 (AES256) by default (was none)" in page
    assert bucket_config.get_default_encryption(bucket_name("results")) == "AES256"
    assert bucket_config.get_lifecycle_rules(bucket_name("logs")) == [], "only the chosen bucket changes"
    assert page.count("data-drift") == 1

    (event,) = AuditEvent.objects.filter(action=audit_actions.STORAGE_RULES_APPLIED)
    assert (event.actor_email, event.resource_id) == ("ops@portal.test", bucket_name("results"))
    assert event.details["changes"] == [
        f"{bucket_name('results')}: encryption set to SSE-S3 (AES256) by default (was none)"]

    again = client_for(staff).post(URL, {"bucket": "results"}, follow=True).content.decode()
    assert f"Bucket {bucket_name('results')} already matches the configuration." in again


def test_it_refuses_an_unknown_bucket_and_a_post_without_csrf(client, staff, provisioned_s3):
    client.force_login(staff)
    page = client.post(URL, {"bucket": "../etc"}, follow=True).content.decode()
    assert "There is no bucket &#x27;../etc&#x27;; nothing was changed." in page

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(staff)
    assert strict.post(URL, {"bucket": "results"}).status_code == 403
    assert not AuditEvent.objects.filter(action=audit_actions.STORAGE_RULES_APPLIED).exists()


def test_it_explains_a_storage_server_that_is_down(client_for, staff, storage_down):
    page = client_for(staff).get(URL).content.decode()
    assert f"cannot reach the S3 server at {storage_down}" in page
    response = client_for(staff).post(URL, {"bucket": "logs"}, follow=True)
    assert "rules not applied: cannot reach the S3 server" in response.content.decode()


def test_it_lists_held_jobs_and_jobs_due_for_archiving(client_for, staff, lab_a, storage_down):
    make_job(lab_a, "HELD1", finished_days_ago=120, legal_hold=True,
             legal_hold_reason="Litigation hold, case 2024-117", legal_hold_by="ops@portal.test",
             legal_hold_at=timezone.now())
    make_job(lab_a, "SOON1", finished_days_ago=80)
    make_job(lab_a, "YOUNG1", finished_days_ago=10)
    page = client_for(staff).get(URL).content.decode()
    held = page.split('id="held-jobs"')[1].split("</table>")[0]
    assert "HELD1" in held and "Litigation hold, case 2024-117" in held and "SOON1" not in held
    due = page.split('id="due-jobs"')[1].split("</table>")[0]
    assert "SOON1" in due and "held: not archived" in due and "YOUNG1" not in due
    assert f"{(timezone.now() + timedelta(days=10)).date():%Y-%m-%d}" in due


def test_staff_without_the_operations_permission_are_refused(client_for, provisioned_s3):
    plain_staff = make_user("helpdesk@portal.test", is_staff=True)
    assert client_for(plain_staff).get(URL).status_code == 403
    drift_the_server()
    assert client_for(plain_staff).post(URL, {"bucket": "results"}).status_code == 403
    assert bucket_config.get_default_encryption(bucket_name("results")) is None, "nothing re-applied"
    assert not AuditEvent.objects.filter(action=audit_actions.STORAGE_RULES_APPLIED).exists()


def test_only_staff_reach_it(client_for, manager, provisioned_s3):
    client = client_for(manager)
    assert "/admin/login/" in client.get(URL).url
    assert "/admin/login/" in client.post(URL, {"bucket": "results"}).url
    assert bucket_config.get_versioning(bucket_name("results")) is True
    assert not AuditEvent.objects.filter(action=audit_actions.STORAGE_RULES_APPLIED).exists()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_retention_page_in_chromium(chromium, live_server, staff, lab_a, provisioned_s3):
    make_job(lab_a, "HELD1", finished_days_ago=120, legal_hold=True,
             legal_hold_reason="Litigation hold, case 2024-117", legal_hold_by="ops@portal.test",
             legal_hold_at=timezone.now())
    make_job(lab_a, "NA12878", finished_days_ago=84)
    drift_the_server()
    give_totp(staff)
    page = chromium.new_page(viewport={"width": 1300, "height": 900})
    page.goto(live_server.url + "/accounts/login/?next=" + URL)
    page.fill("input[name=login]", "ops@portal.test")
    page.fill("input[name=password]", PASSWORD)
    page.click("[type=submit]")
    enter_totp_code(page)
    page.wait_for_url(re.compile(r".*/admin/retention/$"))
    assert page.locator("tr.drift").count() == 2
    screenshot(page, "admin-retention-drift")

    page.click(f"input[value='Re-apply the rules of {bucket_name('results')}']")
    page.get_by_text("encryption set to SSE-S3 (AES256) by default (was none)").wait_for()
    assert page.locator("tr.drift").count() == 1
    screenshot(page, "admin-retention-after-reapply")
    page.close()
