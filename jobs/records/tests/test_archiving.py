"""Archive -> verify -> delete -> restore -> purge on the real S3 server (SeaweedFS)."""

import hashlib
import io
import json
import os
import tarfile
import time
import tracemalloc
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from jobs.models import Job, JobOutput, Report, Sample, Variant
from tests.helpers import make_user
from jobs.records import archiving
from jobs.records import retention
from storage import keys, s3, versions
from storage.buckets import bucket_name
from storage.models import StoredObject
from tenants import audit_actions
from tenants.models import AuditEvent

pytestmark = pytest.mark.django_db
MB = 1024 * 1024

FILES = {
    "TEST1_Final_.txt": ("results", b"ID\tCHROM\tPOS\tREF\tALT\nv1\tchr1\t12345\tA\tG\n" * 500),
    "metadata.json": ("results", json.dumps({"tools": {"bwa": "0.7.17"}}).encode()),
    "vcf/TEST1.vcf.gz": ("results", os.urandom(300_000)),
    "bam/TEST1.bam": ("intermediate", os.urandom(1_200_000)),
    "qc/TEST1.qc.json": ("intermediate", b'{"q30": 0.93}'),
    "pipeline_info/trace.txt": ("logs", b"task_id\tname\trealtime\n1\tFASTP\t2s\n"),
}


def put(bucket: str, key: str, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    s3.client().put_object(Bucket=bucket, Key=key, Body=data, Metadata={"sha256": digest})
    return digest


def get(bucket: str, key: str) -> bytes:
    return s3.client().get_object(Bucket=bucket, Key=key)["Body"].read()


def make_job(lab, *, name="TEST1", files=FILES, finished_days_ago=100, report=True) -> Job:
    """A succeeded job whose outputs are in storage and in the ledger, as the pipeline leaves it."""
    user = make_user(f"{name.lower()}-submitter@lab-a.test")
    now = timezone.now()
    sample = Sample.objects.create(
        lab=lab, name=name, external_id=f"PSN-{name}", sex="female",
        clinical_indication="Developmental delay", consent_confirmed_at=now, created_by=user,
        status="submitted")
    job = Job.objects.create(id=sample.job_id, lab=lab, sample=sample, status="succeeded",
                             submitted_by=user, finished_at=now - timedelta(days=finished_days_ago))
    for path, (role, data) in files.items():
        key = keys.log_key(job.submitted_at.date(), job.pk, path.rsplit("/", 1)[-1]) \
            if role == "logs" else keys.job_output_key(lab, job.pk, path)
        digest = put(bucket_name(role), key, data)
        JobOutput.objects.create(lab=lab, job=job, path=path, bucket_role=role, key=key,
                                 size=len(data), sha256=digest, verified_at=now)
        StoredObject.objects.create(bucket=bucket_name(role), key=key, size=len(data),
                                    sha256=digest, lab=lab, job_id=job.pk)
    if report:
        pdf = b"%PDF-1.7 signed report " + os.urandom(2000)
        digest = hashlib.sha256(pdf).hexdigest()
        key = keys.report_key(lab, job.pk, name, 1, signed=True, sha256=digest)
        put(bucket_name("results"), key, pdf)
        Report.objects.create(lab=lab, job=job, version=1, status="signed_out", signed_key=key,
                              signed_sha256=digest, signed_size=len(pdf), signed_at=now)
    return job


def hot_objects(job: Job) -> dict[str, bytes | None]:
    """Every hot file of the job as it is in storage now (None when gone)."""
    found = {}
    for output in job.outputs.all():
        info = s3.object_info(bucket_name(output.bucket_role), output.key)
        found[output.path] = get(bucket_name(output.bucket_role), output.key) if info else None
    return found


@pytest.fixture
def job(provisioned_s3, lab_a):
    return make_job(lab_a)


class WorkerDied(Exception):
    pass


def _die(*args, **kwargs):
    raise WorkerDied


def archive_then_die(job, monkeypatch) -> Job:
    """Archive until the archive is written and recorded, then stop as a worker killed there
    would: nothing verified, no hot file deleted."""
    with monkeypatch.context() as patch:
        patch.setattr(archiving, "verify_archive", _die)
        patch.setattr(archiving, "_remove_hot_files", _die)
        with pytest.raises(WorkerDied):
            archiving.job_archive(job_id=job.pk)
    return Job.objects.get(pk=job.pk)


def test_it_archives_verifies_deletes_and_restores_byte_identical_files(job, lab_a):
    originals = {path: data for path, (_role, data) in FILES.items()}
    report = job.reports.get()
    report_pdf = get(bucket_name("results"), report.signed_key)

    archived = archiving.job_archive(job_id=job.pk)

    assert archived.status == "archived" and archived.archived_at
    today = timezone.now().date()
    assert archived.archive_key == f"{today:%Y}/{today:%m}/{lab_a.pk}/{job.pk}.tar.gz"
    archive = get(bucket_name("archives"), archived.archive_key)
    assert len(archive) == archived.archive_size
    assert hashlib.sha256(archive).hexdigest() == archived.archive_sha256
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile("manifest.json").read())
        assert tar.extractfile("bam/TEST1.bam").read() == originals["bam/TEST1.bam"]
    assert names[0] == "manifest.json"
    report_path = report.signed_key.removeprefix(keys.job_prefix(lab_a, job.pk))
    assert sorted(names[1:]) == sorted([*FILES, report_path])
    assert {m["path"]: m["sha256"] for m in manifest["members"]} == {
        **{p: hashlib.sha256(d).hexdigest() for p, d in originals.items()},
        report_path: report.signed_sha256}
    assert manifest["members"] == archived.archive_manifest

    # The hot results, intermediates and the report PDF are gone for good (no old versions);
    # the logs follow their bucket's own rule.
    for path, (role, _data) in FILES.items():
        key = keys.job_output_key(lab_a, job.pk, path)
        if role != "logs":
            assert versions.object_version_count(bucket_name(role), key) == 0, path
    assert versions.object_version_count(bucket_name("results"), report.signed_key) == 0
    assert sorted(archived.outputs.values_list("path", flat=True)) == ["pipeline_info/trace.txt"]
    live = StoredObject.objects.filter(job_id=job.pk, deleted_at__isnull=True)
    assert sorted(live.values_list("bucket", flat=True)) == sorted(
        [bucket_name("archives"), bucket_name("logs")])
    (event,) = AuditEvent.objects.filter(action=audit_actions.JOB_ARCHIVED)
    assert event.actor_id == "system" and event.details["sha256"] == archived.archive_sha256
    assert event.details["members"] == len(FILES) + 1

    call_command("restore_job", str(job.pk), stdout=io.StringIO())

    job.refresh_from_db()
    assert job.status == "archived", "the archive stays the record"
    restored = {o.path: o for o in job.outputs.all()}
    assert set(restored) == set(FILES)
    for path, data in originals.items():
        output = restored[path]
        assert get(bucket_name(output.bucket_role), output.key) == data, path
        if FILES[path][0] != "logs":
            assert output.bucket_role == "results"
            assert output.key == keys.job_output_key(lab_a, job.pk, path)
    assert get(bucket_name("results"), report.signed_key) == report_pdf
    assert StoredObject.objects.filter(bucket=bucket_name("results"), key=report.signed_key,
                                       deleted_at__isnull=True).exists()
    (event,) = AuditEvent.objects.filter(action=audit_actions.JOB_RESTORED)
    assert event.details["restored"] == len(FILES) and event.details["left_in_logs"] == 1

    # Restoring again changes nothing and writes no new versions.
    out = io.StringIO()
    call_command("restore_job", str(job.pk), stdout=out)
    assert "0 file(s) restored" in out.getvalue()
    assert versions.object_version_count(bucket_name("results"), report.signed_key) == 1


def test_it_detects_one_changed_byte_and_deletes_nothing(job, monkeypatch):
    before = hot_objects(job)
    written = archive_then_die(job, monkeypatch)
    archives = bucket_name("archives")
    data = bytearray(get(archives, written.archive_key))
    data[len(data) // 2] ^= 0x01
    s3.client().put_object(Bucket=archives, Key=written.archive_key, Body=bytes(data))

    with pytest.raises(archiving.ArchiveVerificationError,
                       match=rf"archive {archives}/{written.archive_key} failed verification"):
        archiving.job_archive(job_id=job.pk)

    job.refresh_from_db()
    assert job.status == "succeeded" and not job.archive_sha256
    assert hot_objects(job) == before and None not in before.values()
    assert job.outputs.count() == len(FILES)
    (event,) = AuditEvent.objects.filter(action=audit_actions.JOB_ARCHIVE_FAILED)
    assert "failed verification" in event.details["error"]
    assert not AuditEvent.objects.filter(action=audit_actions.JOB_ARCHIVED).exists()

    # The next pass writes a fresh archive (the bad one is removed, not kept as a version).
    assert archiving.job_archive(job_id=job.pk).status == "archived"
    assert versions.object_version_count(archives, job.archive_key) == 1


def test_a_truncated_archive_is_detected(job, monkeypatch):
    written = archive_then_die(job, monkeypatch)
    archives = bucket_name("archives")
    data = get(archives, written.archive_key)
    s3.client().put_object(Bucket=archives, Key=written.archive_key, Body=data[:-5000])
    with pytest.raises(archiving.ArchiveVerificationError, match="failed verification"):
        archiving.job_archive(job_id=job.pk)
    assert None not in hot_objects(job).values()


def test_a_legal_hold_stops_archiving_and_purging(job, lab_a):
    staff = make_user("staff@portal.test", is_staff=True)
    retention.job_hold_place(actor=staff, job=job, reason="Litigation hold, case 2024-117")

    result = archiving.archive_due()
    assert result == {"done": [], "held": [str(job.pk)], "failed": {}}
    with pytest.raises(archiving.JobOnHold, match="under legal hold.*case 2024-117.*staff@portal"):
        archiving.job_archive(job_id=job.pk)
    assert s3.object_info(bucket_name("archives"),
                          keys.archive_key(lab_a, job.pk, timezone.now().date())) is None
    assert None not in hot_objects(job).values()

    retention.job_hold_lift(actor=staff, job=job, reason="case closed")
    job = archiving.job_archive(job_id=job.pk)
    retention.job_hold_place(actor=staff, job=job, reason="Regulator request R-9")

    later = job.archived_at + timedelta(days=7 * 365 + 1)
    assert archiving.purge_expired(now=later)["held"] == [str(job.pk)]
    with pytest.raises(archiving.JobOnHold, match="not purged"):
        archiving.job_purge(job_id=job.pk, now=later)
    assert versions.object_version_count(bucket_name("archives"), job.archive_key) == 1

    retention.job_hold_lift(actor=staff, job=job, reason="request answered")
    assert archiving.purge_expired(now=later)["done"] == [str(job.pk)]
    job.refresh_from_db()
    assert job.status == "purged" and job.purged_at == later
    assert versions.object_version_count(bucket_name("archives"), job.archive_key) == 0
    assert not StoredObject.objects.filter(job_id=job.pk, deleted_at__isnull=True).exists()
    assert [e.action for e in AuditEvent.objects.filter(resource_id=str(job.pk))
            .order_by("id")] == [audit_actions.LEGAL_HOLD_PLACED, audit_actions.LEGAL_HOLD_LIFTED,
                                 audit_actions.JOB_ARCHIVED, audit_actions.LEGAL_HOLD_PLACED,
                                 audit_actions.LEGAL_HOLD_LIFTED, audit_actions.JOB_PURGED]
    placed = AuditEvent.objects.filter(action=audit_actions.LEGAL_HOLD_PLACED).first()
    assert placed.details["reason"] == "Litigation hold, case 2024-117"
    assert placed.actor_email == "staff@portal.test"


def test_a_hold_placed_during_verification_stops_the_deletion(job, monkeypatch):
    staff = make_user("staff@portal.test", is_staff=True)
    verify = archiving.verify_archive

    def verify_then_hold(job_being_archived):
        verify(job_being_archived)
        retention.job_hold_place(actor=staff, job=job_being_archived, reason="Subpoena 77")

    monkeypatch.setattr(archiving, "verify_archive", verify_then_hold)
    with pytest.raises(archiving.JobOnHold, match="Subpoena 77"):
        archiving.job_archive(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "succeeded" and job.legal_hold
    assert None not in hot_objects(job).values()


def test_purge_waits_for_the_archive_period(job):
    job = archiving.job_archive(job_id=job.pk)
    assert archiving.purge_expired(now=job.archived_at + timedelta(days=30)) == {
        "done": [], "held": [], "failed": {}}
    with pytest.raises(archiving.ArchiveError, match="kept until"):
        archiving.job_purge(job_id=job.pk, now=job.archived_at + timedelta(days=30))
    assert Job.objects.get(pk=job.pk).status == "archived"


def test_purge_removes_restored_files_and_variant_rows(job):
    Variant.objects.create(lab=job.lab, job=job, variant_id="v1", chrom="chr1", pos=12345,
                           ref="A", alt="G")
    job = archiving.job_archive(job_id=job.pk)
    archiving.job_restore(job_id=job.pk)
    table = job.outputs.get(path="TEST1_Final_.txt")
    archiving.job_purge(job_id=job.pk, now=job.archived_at + timedelta(days=7 * 365))
    assert versions.object_version_count(bucket_name("results"), table.key) == 0
    assert not job.outputs.exists() and not Variant.objects.filter(job=job).exists()
    with pytest.raises(CommandError, match=r"is purged on \d{4}-\d\d-\d\d: only an archived job"):
        call_command("restore_job", str(job.pk))


def test_a_retry_after_a_crash_while_deleting_ends_archived_with_one_archive(job, monkeypatch):
    delete = versions.delete_object_versions
    calls = []

    def crash_on_second_delete(bucket, key):
        calls.append(key)
        if len(calls) == 2:
            raise s3.StorageError("connection reset while deleting")
        return delete(bucket, key)

    monkeypatch.setattr(versions, "delete_object_versions", crash_on_second_delete)
    with pytest.raises(s3.StorageError, match="connection reset"):
        archiving.job_archive(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "succeeded" and job.archive_sha256

    monkeypatch.setattr(versions, "delete_object_versions", delete)
    assert archiving.job_archive(job_id=job.pk).status == "archived"
    assert versions.object_version_count(bucket_name("archives"), job.archive_key) == 1
    assert AuditEvent.objects.filter(action=audit_actions.JOB_ARCHIVED).count() == 1
    assert archiving.job_archive(job_id=job.pk).status == "archived"  # and again: no change


def test_an_archive_left_unrecorded_by_a_dead_worker_is_verified_and_adopted(job, monkeypatch):
    written = archive_then_die(job, monkeypatch)
    size, digest = written.archive_size, written.archive_sha256
    Job.objects.filter(pk=job.pk).update(archive_size=None, archive_sha256="",
                                         archive_manifest=[])  # died before recording it

    archived = archiving.job_archive(job_id=job.pk)
    assert (archived.status, archived.archive_size, archived.archive_sha256) == (
        "archived", size, digest)
    assert versions.object_version_count(bucket_name("archives"), archived.archive_key) == 1


def test_it_refuses_to_archive_a_job_whose_result_is_missing(job):
    table = job.outputs.get(path="TEST1_Final_.txt")
    versions.delete_object_versions(bucket_name("results"), table.key)
    with pytest.raises(archiving.ArchiveError,
                       match="1 result file.*missing from storage: TEST1_Final_.txt; nothing"):
        archiving.job_archive(job_id=job.pk)
    assert job.outputs.count() == len(FILES)
    assert s3.object_info(bucket_name("results"),
                          job.outputs.get(path="vcf/TEST1.vcf.gz").key) is not None
    assert AuditEvent.objects.filter(action=audit_actions.JOB_ARCHIVE_FAILED).count() == 1


def test_intermediates_expired_by_their_bucket_rule_are_listed_not_fatal(job):
    bam = job.outputs.get(path="bam/TEST1.bam")
    versions.delete_object_versions(bucket_name("intermediate"), bam.key)  # the 30-day rule did this
    archived = archiving.job_archive(job_id=job.pk)
    archive = get(bucket_name("archives"), archived.archive_key)
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())
    assert [m["path"] for m in manifest["expired"]] == ["bam/TEST1.bam"]
    assert "bam/TEST1.bam" not in [m["path"] for m in archived.archive_manifest]
    assert not StoredObject.objects.filter(key=bam.key, deleted_at__isnull=True).exists()


def test_a_hot_file_changed_since_publishing_is_not_archived(job):
    vcf = job.outputs.get(path="vcf/TEST1.vcf.gz")
    s3.client().put_object(Bucket=bucket_name("results"), Key=vcf.key,
                           Body=os.urandom(vcf.size))
    with pytest.raises(archiving.ArchiveError,
                       match="vcf/TEST1.vcf.gz in .* no longer matches its recorded SHA-256"):
        archiving.job_archive(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "succeeded" and not job.archive_sha256
    assert s3.object_info(bucket_name("archives"), job.archive_key) is None


def test_the_command_archives_due_jobs_and_skips_young_and_held_ones(provisioned_s3, lab_a):
    due = make_job(lab_a, name="OLD1", report=False)
    young = make_job(lab_a, name="NEW1", finished_days_ago=10, report=False)
    held = make_job(lab_a, name="HELD1", report=False)
    retention.job_hold_place(actor=make_user("staff@portal.test", is_staff=True), job=held,
                             reason="case 9")

    out = io.StringIO()
    call_command("archive_jobs", "--dry-run", stdout=out)
    assert f"would archive: {due.pk}" in out.getvalue()
    assert f"under legal hold: {held.pk}" in out.getvalue()
    assert str(young.pk) not in out.getvalue()
    assert not Job.objects.filter(status="archived").exists()

    call_command("archive_jobs", stdout=io.StringIO())
    assert dict(Job.objects.values_list("sample__name", "status")) == {
        "OLD1": "archived", "NEW1": "succeeded", "HELD1": "succeeded"}


def test_restore_explains_a_job_that_is_not_archived(job):
    with pytest.raises(CommandError, match=f"job {job.pk} is succeeded: only an archived job"):
        call_command("restore_job", str(job.pk))
    with pytest.raises(CommandError, match="there is no job not-a-job"):
        call_command("restore_job", "not-a-job")


def test_archiving_a_200_mb_job_streams_in_bounded_memory(provisioned_s3, lab_a, settings):
    """The job is never held in memory (nor on disk): peak Python allocations stay near a few
    parts while 200 MB go from the hot buckets into the archive and are read back."""
    settings.ARCHIVE_PART_BYTES = 8 * MB
    job = make_job(lab_a, files={"TEST1_Final_.txt": ("results", b"ID\tCHROM\n" * 1000)},
                   report=False)
    key = keys.job_output_key(lab_a, job.pk, "bam/TEST1.bam")
    writer = s3.ObjectWriter(bucket_name("intermediate"), key, part_size=8 * MB)
    block = os.urandom(MB)
    for i in range(200):
        writer.write(block[i:] + block[:i])   # incompressible, no two blocks alike
    writer.close()
    JobOutput.objects.create(lab=lab_a, job=job, path="bam/TEST1.bam", bucket_role="intermediate",
                             key=key, size=writer.size, sha256=writer.sha256,
                             verified_at=timezone.now())

    tracemalloc.start()
    started = time.perf_counter()
    try:
        archived = archiving.job_archive(job_id=job.pk)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    seconds = time.perf_counter() - started
    print(f"\narchived {writer.size / MB:.0f} MB in {seconds:.1f} s "
          f"({writer.size / MB / seconds:.1f} MB/s, write + read-back verify); "
          f"peak traced memory {peak / MB:.1f} MB with {settings.ARCHIVE_PART_BYTES // MB} MB parts")
    assert archived.status == "archived" and archived.archive_size > 200 * MB
    assert peak < 40 * MB, f"peak {peak / MB:.0f} MB: something buffers whole files"
