"""Verification of uploaded pairs, end to end: uploaded through the browser's API to the real S3
server, then re-read from storage by the verification task. Each broken pair ends "rejected"
with its reason; its objects stay in the raw bucket (nothing already stored is lost)."""

import pytest

from jobs.models import FileStatus, Sample, SampleStatus
from jobs.intake.uploads import intake_sweep
from jobs.intake.verification import sample_verify
from tests.fastq_data import VARIANTS
from tests.upload_client import UploadFailed, file_sha256, sample_fields
from storage import multipart, s3
from storage.buckets import bucket_name
from tenants import audit_actions
from tenants.models import AuditEvent

pytestmark = pytest.mark.usefixtures("provisioned_s3", "sync_tasks")


def upload_and_verify(uploader, name, r1, r2, capture, *, sha256=None):
    created = uploader.create_sample(sample_fields(name), r1, r2)
    with capture(execute=True):
        for info, path in zip(created["files"], (r1, r2)):
            status, answer = uploader.upload(info, path, sha256=sha256 if info["read"] == 2
                                             else None)
            assert status == 200, answer
    return Sample.objects.get(pk=created["sample"]["id"])


def test_it_marks_a_good_pair_ready_with_statistics(uploader_for, clinician, fastq_pair,
                                                   django_capture_on_commit_callbacks):
    sample = upload_and_verify(uploader_for(clinician), "S1", *fastq_pair,
                               django_capture_on_commit_callbacks)
    assert sample.status == SampleStatus.READY, sample.rejection_reason
    for f, path in zip(sample.files.order_by("read"), fastq_pair):
        assert f.status == FileStatus.VERIFIED
        assert f.sha256 == f.client_sha256 == file_sha256(path)
        assert (f.read_count, f.min_length, f.max_length) == (2000, 100, 100)
        assert f.base_count == 200_000 and 0.5 < f.q30_fraction <= 1
        tags = s3.get_object_tags(bucket_name("raw"), f.key)
        assert tags == {"sha256": f.sha256, "verified": "true", "sample": str(sample.pk)}
    verified = AuditEvent.objects.get(action=audit_actions.SAMPLE_VERIFIED, lab=clinician.lab)
    assert verified.actor_id == "system" and verified.details["R1_sha256"] == sample.file(1).sha256


BROKEN = sorted(name for name in VARIANTS if name != "empty")


@pytest.mark.parametrize("variant", BROKEN)
def test_it_rejects_each_broken_pair_with_its_reason(uploader_for, clinician, tmp_path, variant,
                                                     django_capture_on_commit_callbacks):
    r1, r2, expected = VARIANTS[variant](tmp_path)
    sample = upload_and_verify(uploader_for(clinician), variant.replace("_", "-"), r1, r2,
                               django_capture_on_commit_callbacks)
    if not expected:
        assert sample.status == SampleStatus.READY, sample.rejection_reason
        return
    assert sample.status == SampleStatus.REJECTED
    assert expected in sample.rejection_reason
    event = AuditEvent.objects.get(action=audit_actions.SAMPLE_REJECTED, lab=clinician.lab)
    assert event.details["reason"] == sample.rejection_reason
    assert set(event.details["digests"]) == {"R1", "R2"}
    for f, path in zip(sample.files.order_by("read"), (r1, r2)):
        body = s3.open_object(bucket_name("raw"), f.key).read()
        assert body == path.read_bytes(), "a rejected file stays in storage"


def test_it_refuses_an_empty_file_before_any_upload(uploader_for, clinician, tmp_path):
    r1, r2, _expected = VARIANTS["empty"](tmp_path)
    with pytest.raises(UploadFailed) as refused:
        uploader_for(clinician).create_sample(sample_fields("E1"), r1, r2)
    assert refused.value.answer["errors"]["r2"] == ["The file is empty."]


def test_it_marks_a_file_corrupt_when_its_checksum_differs(uploader_for, clinician, fastq_pair,
                                                          django_capture_on_commit_callbacks):
    sample = upload_and_verify(uploader_for(clinician), "S1", *fastq_pair,
                               django_capture_on_commit_callbacks, sha256="0" * 64)
    assert sample.status == SampleStatus.REJECTED
    assert "R2's SHA-256 in storage" in sample.rejection_reason
    assert "damaged in transit" in sample.rejection_reason
    assert sample.file(2).status == FileStatus.CORRUPT
    assert sample.file(1).status == FileStatus.VERIFIED


def test_it_lets_a_rejected_name_be_used_again(uploader_for, clinician, tmp_path, fastq_pair,
                                               django_capture_on_commit_callbacks):
    uploader = uploader_for(clinician)
    (tmp_path / "bad").mkdir()
    r1, r2, _ = VARIANTS["crlf"](tmp_path / "bad")
    first = upload_and_verify(uploader, "S1", r1, r2, django_capture_on_commit_callbacks)
    assert first.status == SampleStatus.REJECTED
    second = upload_and_verify(uploader, "S1", *fastq_pair, django_capture_on_commit_callbacks)
    assert second.status == SampleStatus.READY
    assert first.job_id != second.job_id and first.file(1).key != second.file(1).key
    assert s3.object_size(bucket_name("raw"), first.file(1).key) == r1.stat().st_size


def test_it_verifies_only_once(uploader_for, clinician, fastq_pair,
                               django_capture_on_commit_callbacks):
    sample = upload_and_verify(uploader_for(clinician), "S1", *fastq_pair,
                               django_capture_on_commit_callbacks)
    assert sample_verify(sample_id=sample.pk) is None  # already ready: nothing to do
    assert AuditEvent.objects.filter(action=audit_actions.SAMPLE_VERIFIED).count() == 1


def test_it_keeps_a_sample_verifying_while_storage_is_down_and_retries(
        uploader_for, clinician, fastq_pair, django_capture_on_commit_callbacks, monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    uploader = uploader_for(clinician)
    created = uploader.create_sample(sample_fields("S1"), *fastq_pair)
    with django_capture_on_commit_callbacks(execute=False):  # the worker never ran
        for info, path in zip(created["files"], fastq_pair):
            assert uploader.upload(info, path)[0] == 200
    sample = Sample.objects.get()
    assert sample.status == SampleStatus.VERIFYING

    Sample.objects.filter(pk=sample.pk).update(updated_at=timezone.now() - timedelta(minutes=10))
    with django_capture_on_commit_callbacks(execute=True):   # the sweep's transaction commits
        report = intake_sweep()
    assert report["requeued_verifications"] == 1
    sample.refresh_from_db()
    assert sample.status == SampleStatus.READY


def test_it_cleans_up_uploads_abandoned_for_a_day(uploader_for, clinician, fastq_pair):
    from datetime import timedelta

    from django.utils import timezone

    uploader = uploader_for(clinician)
    created = uploader.create_sample(sample_fields("S1"), *fastq_pair)
    uploader.start(created["files"][0], fastq_pair[0])
    assert len(multipart.list_unfinished_uploads(bucket_name("raw"))) == 1
    assert intake_sweep()["aborted_uploads"] == 0  # too young
    assert intake_sweep(now=timezone.now() + timedelta(days=1, minutes=1))["aborted_uploads"] == 1
    assert multipart.list_unfinished_uploads(bucket_name("raw")) == []
    f = Sample.objects.get().file(1)
    assert f.status == FileStatus.CANCELLED and "left unfinished for a day" in f.error
    assert AuditEvent.objects.filter(action=audit_actions.UPLOAD_ABANDONED).count() == 1


def test_the_sweep_is_scheduled_hourly(db):
    import importlib

    from django.apps import apps
    from django_q.models import Schedule

    # Transactional tests flush the tables, migration data included: run the migration's step.
    importlib.import_module("jobs.migrations.0002_schedule_intake_sweep").schedule_sweep(apps, None)
    sweep = Schedule.objects.get(func="jobs.tasks.sweep_intake")
    assert sweep.schedule_type == Schedule.HOURLY and sweep.repeats == -1


@pytest.mark.django_db(transaction=True)
def test_the_same_reads_under_a_second_sample_are_refused(uploader_for, clinician, pipeline_env):
    from jobs.models import Sample

    from tests.upload_client import sample_fields

    pair = (pipeline_env / "TEST1_R1.fastq.gz", pipeline_env / "TEST1_R2.fastq.gz")
    first = uploader_for(clinician).upload_sample(sample_fields("FIRST"), *pair)
    second = uploader_for(clinician).upload_sample(sample_fields("SECOND"), *pair)
    assert Sample.objects.get(pk=first["sample"]["id"]).status == "ready"
    refused = Sample.objects.get(pk=second["sample"]["id"])
    assert refused.status == "rejected"
    assert "byte-identical to R1 of sample FIRST" in refused.rejection_reason
    assert "a lab manager starts a new analysis from that sample's page" in refused.rejection_reason


def test_a_storage_outage_during_verification_says_so_and_heals_by_itself(
        uploader_for, clinician, client_for, fastq_pair, django_capture_on_commit_callbacks,
        settings):
    from datetime import timedelta

    from django.test import override_settings
    from django.utils import timezone

    from jobs.intake.verification import verifications_resume
    from storage.seaweed import free_port

    uploader = uploader_for(clinician)
    created = uploader.create_sample(sample_fields("S1"), *fastq_pair)
    with django_capture_on_commit_callbacks(execute=False):  # the worker has not run yet
        for info, path in zip(created["files"], fastq_pair):
            assert uploader.upload(info, path)[0] == 200
    sample = Sample.objects.get()

    dead = f"http://127.0.0.1:{free_port()}"
    with override_settings(MINIO_ENDPOINT=dead, STORAGE_TIMEOUT_SECONDS=1):
        assert sample_verify(sample_id=sample.pk).status == SampleStatus.VERIFYING   # no crash
    sample.refresh_from_db()
    assert sample.verification_retries == 1
    assert sample.verification_note.startswith("Storage is unavailable, so the files could not "
                                                "be checked yet (cannot reach the S3 server")
    status = client_for(clinician).get(f"/labs/lab-a/samples/{sample.pk}/status/").json()
    assert status["status"] == "verifying" and "Retrying by itself in 1 minute" in status["note"]

    # Storage is back: the reaper's next pass after the wait verifies it, and the note goes.
    settings.VERIFY_REQUEUE_AFTER_SECONDS = 300
    assert verifications_resume(now=timezone.now()) == 0, "not before its wait"
    with django_capture_on_commit_callbacks(execute=True):
        assert verifications_resume(now=timezone.now() + timedelta(seconds=61)) == 1
    sample.refresh_from_db()
    assert (sample.status, sample.verification_note, sample.verification_retries) == (
        SampleStatus.READY, "", 0)
