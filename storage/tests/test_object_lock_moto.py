"""The retention helpers against moto's S3, fast; the real server's behaviour is in
test_object_lock_seaweed.py."""

from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import pytest

from storage import bucket_config, provisioning, s3, versions
from storage.buckets import bucket_name

KEY = "audit/checkpoints/00000000000000000007-test.json"


def test_it_writes_reads_and_keeps_a_retained_version(moto_s3):
    provisioning.apply()
    logs = bucket_name("logs")
    assert bucket_config.get_object_lock_enabled(logs) and bucket_config.get_versioning(logs)
    until = (datetime.now(dt_timezone.utc) + timedelta(days=3)).replace(microsecond=0)
    version = versions.put_retained_bytes(logs, KEY, b"{}", mode="COMPLIANCE", retain_until=until)
    stored = versions.get_retained_version(logs, KEY, version)
    assert (stored["body"], stored["lock_mode"], stored["retain_until"]) == (b"{}", "COMPLIANCE",
                                                                             until)
    with pytest.raises(s3.StorageError, match="AccessDenied"):
        versions.delete_version(logs, KEY, version)
