"""Each audit-chain check (`verify_audit`, the daily task, the admin button: all go through
`audit_chain_check`) leaves its outcome for /metrics."""

import pytest
from django.core.management import CommandError, call_command

from storage.models import CheckResult
from tenants.models import AuditEvent
from tests.helpers import tamper_with_audit_rows
from tests.metrics import TEST_TOKEN, scrape, value

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def metrics_token(settings):
    settings.METRICS_TOKEN = TEST_TOKEN


def test_the_audit_chain_check_records_its_outcome(client, provisioned_s3, clinician):
    call_command("verify_audit", "--no-checkpoint")
    scraped = scrape(client)
    assert value(scraped, "wes_check_ok", check="audit_chain") == 1
    assert value(scraped, "wes_check_problems", check="audit_chain") == 0

    event = AuditEvent.objects.order_by("id").first()
    tamper_with_audit_rows("UPDATE tenants_auditevent SET action = %s WHERE id = %s",
                           ["user.edited", event.pk])
    with pytest.raises(CommandError):
        call_command("verify_audit", "--no-checkpoint")
    scraped = scrape(client)
    assert value(scraped, "wes_check_ok", check="audit_chain") == 0
    assert value(scraped, "wes_check_problems", check="audit_chain") >= 1
    assert f"#{event.pk}" in CheckResult.objects.get(kind="audit_chain").detail
