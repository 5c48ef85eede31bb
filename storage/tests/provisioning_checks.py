"""Assertions shared by the moto and real-server provisioning tests: one behaviour, two servers."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from storage import bucket_config, provisioning, s3
from storage.buckets import REGISTRY, bucket


def run_setup_storage(*args) -> str:
    out = StringIO()
    call_command("setup_storage", *args, stdout=out, stderr=out)
    return out.getvalue()


def assert_server_matches_registry():
    client = s3.client()
    present = {b["Name"] for b in client.list_buckets()["Buckets"]}
    for rule in REGISTRY:
        assert rule.name in present
        status = client.get_bucket_versioning(Bucket=rule.name).get("Status")
        assert (status == "Enabled") == rule.versioned, rule.name
        assert bucket_config.get_object_lock_enabled(rule.name) == rule.object_lock, rule.name
        if rule.encrypted:
            config = client.get_bucket_encryption(Bucket=rule.name)
            algorithms = [r["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"]
                          for r in config["ServerSideEncryptionConfiguration"]["Rules"]]
            assert algorithms == ["AES256"], rule.name
        if rule.expire_days is None:
            assert bucket_config.get_lifecycle_rules(rule.name) == []
        else:
            (read_back,) = client.get_bucket_lifecycle_configuration(Bucket=rule.name)["Rules"]
            assert read_back["Expiration"]["Days"] == rule.expire_days
            assert read_back["Status"] == "Enabled"
            noncurrent = read_back.get("NoncurrentVersionExpiration", {}).get("NoncurrentDays")
            assert noncurrent == (rule.expire_days if rule.versioned else None), rule.name
        if rule.browser_uploads:
            (cors,) = client.get_bucket_cors(Bucket=rule.name)["CORSRules"]
            assert sorted(cors["AllowedOrigins"]) == ["http://127.0.0.1:8000",
                                                      "http://localhost:8000"]
            assert "PUT" in cors["AllowedMethods"] and cors["ExposeHeaders"] == ["ETag"]


def check_full_cycle():
    first = run_setup_storage()
    assert "storage ready: 6 buckets" in first
    assert f"{bucket('raw').name}: created" in first
    assert_server_matches_registry()

    second = run_setup_storage()
    assert "nothing to change" in second
    assert "changed:" not in second
    assert "no drift" in run_setup_storage("--check")

    # Someone removes a rule and default encryption behind the portal's back.
    bucket_config.set_lifecycle_rules(bucket("logs").name, [])
    bucket_config.remove_default_encryption(bucket("results").name)
    with pytest.raises(CommandError, match="2 difference"):
        run_setup_storage("--check")
    drift = {(d.bucket, d.aspect) for d in provisioning.plan().drift}
    assert drift == {(bucket("logs").name, "lifecycle"), (bucket("results").name, "encryption")}

    repaired = run_setup_storage()
    assert "2 change(s)" in repaired
    assert_server_matches_registry()
    assert "no drift" in run_setup_storage("--check")
