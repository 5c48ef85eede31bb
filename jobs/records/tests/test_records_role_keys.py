"""The records work with one key per storage role on a real S3 server (SeaweedFS started with the
identities storage/policies.py generates): a worker process archives, holds, restores and purges
with the records key, which its own worker key could not do."""

from datetime import timedelta

import pytest
from django.test import override_settings

from jobs.models import SampleFile
from jobs.records import archiving, reconciliation, retention
from jobs.records.tests.test_archiving import make_job
from storage import keys, s3, versions
from storage.buckets import bucket_name
from storage.credentials import acting_as
from tests import storage_roles
from tests.helpers import make_user

pytestmark = pytest.mark.django_db
role_keys, role_server = storage_roles.role_keys, storage_roles.role_server   # the fixtures


def test_a_worker_process_does_the_records_work_with_the_records_key(role_server, lab_a):
    with acting_as("admin"):      # what the pipeline and an upload leave behind
        job = make_job(lab_a)
        key = keys.raw_fastq_key(lab_a, job.pk, "TEST1", 1)
        s3.client().put_object(Bucket=bucket_name("raw"), Key=key, Body=b"@r1\n")
        SampleFile.objects.create(lab=lab_a, sample=job.sample, read=1, key=key,
                                  original_name="TEST1_R1.fastq.gz", size=4)
    staff = make_user("staff@portal.test", is_staff=True)
    result = job.outputs.get(path="TEST1_Final_.txt")

    with override_settings(WES_STORAGE_ROLE="worker"):
        with pytest.raises(s3.StorageError, match="storage role worker"):
            versions.delete_object_versions(bucket_name("results"), result.key)

        retention.job_hold_place(actor=staff, job=job, reason="Case 7")
        with acting_as("records"):
            assert versions.legal_hold_on(bucket_name("raw"), key, next(
                versions.list_versions(bucket_name("raw"), key))["VersionId"])
        retention.job_hold_lift(actor=staff, job=job, reason="closed")

        archived = archiving.job_archive(job_id=job.pk)
        assert archived.status == "archived"
        assert s3.object_info(bucket_name("results"), result.key) is None   # deleted (records)
        archiving.job_restore(job_id=job.pk)
        assert s3.object_info(bucket_name("results"), result.key)["size"] == result.size
        purged = archiving.job_purge(job_id=job.pk,
                                     now=archived.archived_at + timedelta(days=7 * 365))
        assert purged.status == "purged"
        with pytest.raises(s3.StorageError, match="storage role worker"):   # not the worker's
            s3.object_info(bucket_name("archives"), archived.archive_key)
        with acting_as("records"):
            assert s3.object_info(bucket_name("archives"), archived.archive_key) is None

        run = reconciliation.storage_reconcile(trigger="command")
        assert run.status != "failed", run.error


def test_the_web_process_cannot_place_a_hold_without_the_records_key(role_server, lab_a,
                                                                     role_keys):
    """Legal holds from the admin need the records key in the web process; without it (the
    records role falling back to the web key) the hold is refused and the job stays unheld."""
    with acting_as("admin"):
        job = make_job(lab_a, name="TEST2")
    web_only = {"web": role_keys["web"]}
    with override_settings(WES_STORAGE_ROLE="web", MINIO_ROLE_KEYS=web_only,
                           MINIO_ACCESS_KEY=role_keys["web"][0],
                           MINIO_SECRET_KEY=role_keys["web"][1]):
        with pytest.raises(s3.StorageError, match="storage role records"):
            retention.job_hold_place(actor=make_user("staff@portal.test", is_staff=True),
                                     job=job, reason="Case 8")
    job.refresh_from_db()
    assert not job.legal_hold
