"""The rows /metrics reads: counts several processes add to, and the latest outcome of each check
(storage drift here; the audit chain: tenants/tests/test_audit_check_recorded.py)."""

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction

from storage import bucket_config, metric_records
from storage.buckets import bucket
from storage.models import CheckResult, MetricCount
from tests.metrics import TEST_TOKEN, scrape, value

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def metrics_token(settings):
    settings.METRICS_TOKEN = TEST_TOKEN


def test_counts_add_up_per_series_and_refuse_undeclared_names():
    metric_records.count("upload_bytes", 10, via="form")
    metric_records.count("upload_bytes", 5, via="form")
    metric_records.count("upload_bytes", 1, via="multipart")
    metric_records.count("lease_takeovers")
    rows = dict(MetricCount.objects.values_list("labels", "value").filter(name="upload_bytes"))
    assert rows == {'{"via": "form"}': 15, '{"via": "multipart"}': 1}
    with pytest.raises(ValueError, match="not a recorded counter"):
        metric_records.count("upload_byte", 1, via="form")
    with pytest.raises(ValueError, match="takes the labels"):
        metric_records.count("upload_bytes", 1, path="form")


def test_a_count_rolled_back_with_its_action_is_not_counted():
    with pytest.raises(RuntimeError), transaction.atomic():
        metric_records.count("download_bytes", 100, kind="report")
        raise RuntimeError("the download failed")
    assert not MetricCount.objects.filter(name="download_bytes").exists()


def test_the_drift_check_records_its_outcome(client, provisioned_s3):
    call_command("setup_storage", "--check")
    scraped = scrape(client)
    assert value(scraped, "wes_check_ok", check="storage_drift") == 1
    assert value(scraped, "wes_check_problems", check="storage_drift") == 0
    assert value(scraped, "wes_check_timestamp_seconds", check="storage_drift") > 0

    bucket_config.set_lifecycle_rules(bucket("logs").name, [])     # removed behind the portal's back
    with pytest.raises(CommandError):
        call_command("setup_storage", "--check")
    scraped = scrape(client)
    assert value(scraped, "wes_check_ok", check="storage_drift") == 0
    assert value(scraped, "wes_check_problems", check="storage_drift") == 1
    assert "lifecycle" in CheckResult.objects.get(kind="storage_drift").detail

    call_command("setup_storage")
    call_command("setup_storage", "--check")       # fixed: the next check says so
    assert value(scrape(client), "wes_check_problems", check="storage_drift") == 0


def test_the_daily_drift_task_records_too(provisioned_s3):
    from storage.tasks import check_storage_drift

    assert check_storage_drift() == "no drift"
    assert CheckResult.objects.get(kind="storage_drift").ok
