"""What S3 Object Lock retention the real S3 server (SeaweedFS 4.48) enforces, through storage.s3.

The audit chain's checkpoints rely on it (tenants/audit_checkpoints.py); docs/operations.md,
"Audit chain: key, checkpoints, roles", states the same findings and the MinIO equivalents.
"""

from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import pytest

from storage import bucket_config, s3, versions
from storage.buckets import bucket_name

KEY = "audit/checkpoints/00000000000000000042-test.json"


def in_days(days: float) -> datetime:
    return (datetime.now(dt_timezone.utc) + timedelta(days=days)).replace(microsecond=0)


def test_compliance_retention_refuses_delete_shorten_and_downgrade(provisioned_s3):
    logs = bucket_name("logs")
    assert bucket_config.get_object_lock_enabled(logs) and bucket_config.get_versioning(logs)
    version = versions.put_retained_bytes(logs, KEY, b'{"last_id": 42}', mode="COMPLIANCE",
                                    retain_until=in_days(30))
    stored = versions.get_retained_version(logs, KEY, version)
    assert (stored["body"], stored["lock_mode"]) == (b'{"last_id": 42}', "COMPLIANCE")
    assert abs(stored["retain_until"] - in_days(30)) < timedelta(minutes=1)

    with pytest.raises(s3.StorageError, match="AccessDenied"):
        versions.delete_version(logs, KEY, version)
    with pytest.raises(s3.StorageError, match="AccessDenied"):
        versions.delete_version(logs, KEY, version, bypass_governance=True)
    with pytest.raises(s3.StorageError, match="AccessDenied"):
        versions.shorten_retention(logs, KEY, version, mode="COMPLIANCE", retain_until=in_days(0.01))
    with pytest.raises(s3.StorageError, match="AccessDenied"):
        versions.shorten_retention(logs, KEY, version, mode="GOVERNANCE", retain_until=in_days(30))
    batch = s3.client().delete_objects(Bucket=logs, Delete={"Objects": [
        {"Key": KEY, "VersionId": version}]})
    assert [e["Code"] for e in batch.get("Errors", [])] == ["AccessDenied"]

    # A plain DELETE and an overwrite are allowed, as S3 specifies: they add a delete marker or a
    # new version in front; the retained version itself is untouched and readable by its id.
    s3.client().delete_object(Bucket=logs, Key=KEY)
    s3.client().put_object(Bucket=logs, Key=KEY, Body=b"forged")
    assert versions.get_retained_version(logs, KEY, version)["body"] == b'{"last_id": 42}'
    assert versions.object_version_count(logs, KEY) == 2


def test_governance_retention_gives_way_only_to_the_bypass(provisioned_s3):
    """GOVERNANCE: refused without the bypass header; SeaweedFS lets any credential that may
    delete use the bypass (its admin keys may do everything), so on SeaweedFS it protects against
    mistakes, not against someone holding the portal's storage keys. MinIO asks for the
    s3:BypassGovernanceRetention permission, which the portal's policy leaves out."""
    logs = bucket_name("logs")
    version = versions.put_retained_bytes(logs, KEY, b"{}", mode="GOVERNANCE", retain_until=in_days(30))
    with pytest.raises(s3.StorageError, match="AccessDenied"):
        versions.delete_version(logs, KEY, version)
    versions.delete_version(logs, KEY, version, bypass_governance=True)
    assert versions.object_version_count(logs, KEY) == 0


def test_retention_needs_a_bucket_with_object_lock(real_s3):
    s3.create_bucket(bucket_name("logs"))          # as provisioning made it before: no lock
    with pytest.raises(s3.StorageError, match="InvalidRequest"):
        versions.put_retained_bytes(bucket_name("logs"), KEY, b"{}", mode="COMPLIANCE",
                              retain_until=in_days(1))
    assert s3.object_info(bucket_name("logs"), KEY) is None


def test_a_retention_date_in_the_past_is_refused(provisioned_s3):
    with pytest.raises(s3.StorageError, match="InvalidRequest"):
        versions.put_retained_bytes(bucket_name("logs"), KEY, b"{}", mode="COMPLIANCE",
                              retain_until=in_days(-1))
