"""Provisioning against the real S3 server (SeaweedFS), read back through boto3."""

import pytest
from django.core.management import CommandError
from django.test import override_settings

from storage import s3
from storage.tests.provisioning_checks import check_full_cycle, run_setup_storage


def test_it_creates_buckets_rules_and_detects_drift(real_s3):
    check_full_cycle()


def test_it_explains_wrong_credentials(real_s3):
    with override_settings(MINIO_SECRET_KEY="not-the-secret"):
        with pytest.raises(CommandError, match="denied access.*check MINIO_ACCESS_KEY and "
                                               "MINIO_SECRET_KEY"):
            run_setup_storage()
        with pytest.raises(s3.StorageError, match="rejected the credentials.*SignatureDoes"):
            s3.list_bucket_names()
    with override_settings(MINIO_ACCESS_KEY="nobody"):
        with pytest.raises(CommandError, match="denied access.*check MINIO_ACCESS_KEY"):
            run_setup_storage("--check")


def test_it_explains_a_storage_server_that_is_down(storage_down):
    with pytest.raises(CommandError, match=f"cannot reach the S3 server at {storage_down}"):
        run_setup_storage()


def test_it_keeps_objects_when_run_again(real_s3):
    from storage.buckets import bucket_name

    run_setup_storage()
    client = s3.client()
    client.put_object(Bucket=bucket_name("raw"), Key="lab/job/S1_R1.fastq.gz", Body=b"reads")
    run_setup_storage()
    body = client.get_object(Bucket=bucket_name("raw"), Key="lab/job/S1_R1.fastq.gz")["Body"]
    assert body.read() == b"reads"
    head = client.head_object(Bucket=bucket_name("raw"), Key="lab/job/S1_R1.fastq.gz")
    assert head.get("ServerSideEncryption") == "AES256"
