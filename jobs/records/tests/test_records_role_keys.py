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


def web_process_only(role_keys):
    """gunicorn as the stack and deploy/ start it: the web key, given twice, and no other."""
    web = role_keys["web"]
    return override_settings(WES_STORAGE_ROLE="web", MINIO_ROLE_KEYS={"web": web},
                             MINIO_ACCESS_KEY=web[0], MINIO_SECRET_KEY=web[1],
                             WES_RECORDS_CLUSTER="wes-records")


def records_process_only(role_keys):
    """The records cluster's worker (Q_CLUSTER_NAME=wes-records) with the records key alone."""
    records = role_keys["records"]
    return override_settings(WES_STORAGE_ROLE="records", MINIO_ROLE_KEYS={"records": records},
                             MINIO_ACCESS_KEY=records[0], MINIO_SECRET_KEY=records[1],
                             WES_RECORDS_CLUSTER="wes-records")


def held(role, key) -> set[bool]:
    """The legal hold of each stored version of the key (off for one whose hold was never set,
    which SeaweedFS answers with NoSuchObjectLegalHold)."""
    with acting_as("admin"):
        return {versions.legal_hold_on(bucket_name(role), key, v["VersionId"])
                for v in versions.list_versions(bucket_name(role), key) if v["Key"] == key}


def test_the_admin_with_only_the_web_key_holds_the_job_and_the_records_worker_its_objects(
        role_server, role_keys, lab_a, client_for, monkeypatch):
    """The web process cannot set S3 legal holds (its key may not): the admin's action holds the
    row at once and queues the records task, which holds every stored version with the records
    key; the server then refuses to delete them. Lifting goes the same way."""
    from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
    from django.utils.module_loading import import_string
    from django_q.conf import Conf

    from tenants import audit_actions
    from tenants.models import AuditEvent

    with acting_as("admin"):
        job = make_job(lab_a, name="TEST2")
        read = keys.raw_fastq_key(lab_a, job.pk, "TEST2", 1)
        s3.client().put_object(Bucket=bucket_name("raw"), Key=read, Body=b"@r1\n")
        SampleFile.objects.create(lab=lab_a, sample=job.sample, read=1, key=read,
                                  original_name="TEST2_R1.fastq.gz", size=4)
    result = job.outputs.get(path="TEST1_Final_.txt").key
    with acting_as("admin"):
        version = next(versions.list_versions(bucket_name("results"), result))["VersionId"]
    queued = []
    monkeypatch.setattr(retention, "enqueue", lambda *a, **kw: queued.append((a, kw)))
    client = client_for(make_user("staff@portal.test", is_staff=True, is_superuser=True))
    selection = {"apply": "1", ACTION_CHECKBOX_NAME: [str(job.pk)]}
    page = f"/admin/jobs/job/{job.pk}/change/"

    def run_queued_records_task():
        ((task, *args), options), = queued
        queued.clear()
        assert options == {"group": f"legal-hold-{job.pk}", "cluster": "wes-records"}
        with records_process_only(role_keys), monkeypatch.context() as cluster:
            cluster.setattr(Conf, "CLUSTER_NAME", "wes-records")
            return import_string(task)(*args)

    with web_process_only(role_keys):
        with pytest.raises(s3.StorageError, match="storage role records"):  # why it must queue
            with acting_as("records"):
                versions.set_legal_hold(bucket_name("results"), result, version, on=True)
        asked = client.post("/admin/jobs/job/", {"action": "place_legal_hold",
                                                 ACTION_CHECKBOX_NAME: [str(job.pk)]})
        assert "does not hold the records storage key" in asked.content.decode()
        done = client.post("/admin/jobs/job/", {**selection, "action": "place_legal_hold",
                                                "reason": "Case 8"}, follow=True)
        assert ("Legal hold placed on 1 job(s): TEST2; the records worker is locking their "
                "stored objects") in done.content.decode()
        assert "HELD: Case 8 (stored objects not yet held" in done.content.decode()
        assert "stored objects not yet held" in client.get(page).content.decode()
    job.refresh_from_db()
    assert job.legal_hold and job.legal_hold_reason == "Case 8"
    assert str(job.pk) in archiving.archive_due(dry_run=True)["held"]   # refused from now
    assert held("raw", read) == {False} and held("results", result) == {False}
    placed = AuditEvent.objects.get(action=audit_actions.LEGAL_HOLD_PLACED)
    assert placed.details["objects"] == "queued for the records worker"

    assert run_queued_records_task() == {"raw": 1, "results": 4, "archives": 0}
    assert held("raw", read) == {True} and held("results", result) == {True}
    objects_held = AuditEvent.objects.get(action=audit_actions.LEGAL_HOLD_OBJECTS_HELD)
    assert objects_held.details == {"held_for": "Case 8", "object_versions_held": {
        "raw": 1, "results": 4, "archives": 0}}
    with records_process_only(role_keys):      # the records key may delete results, not these
        with pytest.raises(s3.StorageError, match="under an S3 legal hold"):
            versions.delete_object_versions(bucket_name("results"), result)
    with acting_as("admin"), pytest.raises(s3.StorageError, match="under an S3 legal hold"):
        versions.delete_object_versions(bucket_name("raw"), read)
    with web_process_only(role_keys):
        assert "under S3 legal hold" in client.get(page).content.decode()
        lifted = client.post("/admin/jobs/job/", {**selection, "action": "lift_legal_hold",
                                                  "reason": "Case closed"}, follow=True)
        assert ("Legal hold lifted from 1 job(s): TEST2; the records worker is releasing their "
                "stored objects") in lifted.content.decode()
        assert "stored objects not yet released" in client.get(page).content.decode()
    job.refresh_from_db()
    assert not job.legal_hold and held("results", result) == {True}

    assert run_queued_records_task() == {"raw": 1, "results": 4, "archives": 0}
    assert held("raw", read) == {False} and held("results", result) == {False}
    released = AuditEvent.objects.get(action=audit_actions.LEGAL_HOLD_OBJECTS_RELEASED)
    assert released.details["object_versions_released"]["results"] == 4
    with records_process_only(role_keys):
        assert versions.delete_object_versions(bucket_name("results"), result) == 1
