"""Fast unit tests of provisioning against moto; the same checks run on SeaweedFS elsewhere."""

import pytest
from botocore.stub import Stubber
from django.core.management import CommandError

from storage import bucket_config, provisioning, s3
from storage.buckets import REGISTRY, bucket
from storage.tests.provisioning_checks import check_full_cycle, run_setup_storage


def test_it_creates_buckets_rules_and_detects_drift(moto_s3):
    check_full_cycle()


def test_it_reports_a_missing_bucket_without_creating_it_in_check_mode(moto_s3):
    with pytest.raises(CommandError, match="6 difference"):
        run_setup_storage("--check")
    assert s3.list_bucket_names() == set()


def test_it_reports_extra_lifecycle_rules_as_drift(moto_s3):
    run_setup_storage()
    extra = {"ID": "someone-elses", "Status": "Enabled", "Filter": {"Prefix": "tmp/"},
             "Expiration": {"Days": 1}}
    bucket_config.set_lifecycle_rules(bucket("reference").name, [extra])
    (drift,) = provisioning.plan().drift
    assert drift.bucket == bucket("reference").name
    assert "someone-elses" in drift.actual and drift.expected == "no rules"


def test_it_says_which_feature_a_server_lacks_and_goes_on(moto_s3):
    run_setup_storage()
    bucket_config.set_lifecycle_rules(bucket("logs").name, [])
    client = s3.client()
    with Stubber(client) as stub:
        for rule in REGISTRY:
            # Answer reads as a lifecycle-less server would, and refuse the write with 501.
            stub.add_response("head_bucket", {}, {"Bucket": rule.name})
            stub.add_response("get_bucket_versioning",
                              {"Status": "Enabled"} if rule.versioned else {},
                              {"Bucket": rule.name})
            if rule.object_lock:
                stub.add_response("get_object_lock_configuration", {
                    "ObjectLockConfiguration": {"ObjectLockEnabled": "Enabled"}},
                    {"Bucket": rule.name})
            if rule.encrypted:
                stub.add_response("get_bucket_encryption", {
                    "ServerSideEncryptionConfiguration": {"Rules": [
                        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}},
                    {"Bucket": rule.name})
            stub.add_client_error("get_bucket_lifecycle_configuration",
                                  service_error_code="NoSuchLifecycleConfiguration",
                                  http_status_code=404)
            if rule.browser_uploads:
                stub.add_response("get_bucket_cors", {"CORSRules": rule.cors_rules()},
                                  {"Bucket": rule.name})
            if rule.lifecycle_rules():
                stub.add_client_error("put_bucket_lifecycle_configuration",
                                      service_error_code="NotImplemented", http_status_code=501)
        report = provisioning.apply()
    assert report.changes == []
    assert len(report.unsupported) == 5
    assert all("does not support" in line and "lifecycle" in line for line in report.unsupported)
