"""A job's legal hold reaches the objects: every stored version of its reads, results and archive
carries an S3 legal hold that the server itself enforces (SeaweedFS here, MinIO in production)."""

import hashlib

import pytest

from jobs.models import Job, SampleFile
from tests.helpers import make_user
from jobs.records import archiving
from jobs.records import holds
from jobs.records import retention
from storage import keys, s3, versions
from storage.buckets import bucket_name
from tenants import audit_actions
from tenants.models import AuditEvent

from .test_archiving import make_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(db):
    return make_user("staff@portal.test", is_staff=True)


@pytest.fixture
def job(provisioned_s3, lab_a):
    job = make_job(lab_a)
    for read in (1, 2):   # the uploaded reads, twice over: a re-upload left a second version
        key = keys.raw_fastq_key(lab_a, job.pk, "TEST1", read)
        for attempt in (b"first", b"second"):
            s3.client().put_object(Bucket=bucket_name("raw"), Key=key, Body=attempt * 100)
        SampleFile.objects.create(lab=lab_a, sample=job.sample, read=read, key=key,
                                  original_name=f"TEST1_R{read}.fastq.gz", size=600)
    return job


def stored(role: str, prefix: str) -> list[tuple[str, str]]:
    return [(v["Key"], v["VersionId"]) for v in versions.list_versions(bucket_name(role), prefix)]


def hold_states(job: Job) -> dict[str, set[bool]]:
    found: dict[str, set[bool]] = {}
    for role, key, version_id in holds.held_versions(job):
        found.setdefault(role, set()).add(versions.legal_hold_on(bucket_name(role), key, version_id))
    return found


def test_a_hold_locks_every_version_and_the_server_refuses_to_delete_them(job, lab_a, staff):
    results = stored("results", keys.job_prefix(lab_a, job.pk))
    raw = stored("raw", keys.job_prefix(lab_a, job.pk))
    assert len(results) == 4 and len(raw) == 4   # TSV, metadata, VCF, signed PDF; 2 reads x 2

    retention.job_hold_place(actor=staff, job=job, reason="Litigation hold, case 2024-117")

    assert hold_states(job) == {"raw": {True}, "results": {True}}
    for role, listed in (("results", results), ("raw", raw)):
        for key, version_id in listed:
            with pytest.raises(s3.StorageError, match="under an S3 legal hold") as refused:
                versions.delete_object_versions(bucket_name(role), key)
            assert refused.value.code == "ObjectLocked"
            assert versions.object_version_count(bucket_name(role), key) >= 1
    assert stored("results", keys.job_prefix(lab_a, job.pk)) == results, "nothing deleted"
    (placed,) = AuditEvent.objects.filter(action=audit_actions.LEGAL_HOLD_PLACED)
    assert placed.details["object_versions_held"] == {"raw": 4, "results": 4, "archives": 0}

    retention.job_hold_lift(actor=staff, job=job, reason="case closed")
    assert hold_states(job) == {"raw": {False}, "results": {False}}
    (lifted,) = AuditEvent.objects.filter(action=audit_actions.LEGAL_HOLD_LIFTED)
    assert lifted.details["object_versions_released"] == {"raw": 4, "results": 4, "archives": 0}
    key, _ = results[0]
    assert versions.delete_object_versions(bucket_name("results"), key) == 1


def test_the_archive_of_a_held_job_is_locked_and_restored_files_are_held_too(job, staff):
    job = archiving.job_archive(job_id=job.pk)
    assert stored("results", keys.job_prefix(job.lab, job.pk)) == [], "hot results removed"

    retention.job_hold_place(actor=staff, job=job, reason="Regulator request R-9")
    (archive_version,) = stored("archives", job.archive_key)
    assert versions.legal_hold_on(bucket_name("archives"), *archive_version)
    with pytest.raises(s3.StorageError, match="legal hold"):
        versions.delete_object_versions(bucket_name("archives"), job.archive_key)

    archiving.job_restore(job_id=job.pk)
    restored = stored("results", keys.job_prefix(job.lab, job.pk))
    assert len(restored) >= 4
    assert all(versions.legal_hold_on(bucket_name("results"), k, v) for k, v in restored)


def test_lifting_one_analysis_keeps_the_reads_held_for_another_held_analysis(job, staff):
    rerun = Job.objects.create(lab=job.lab, sample=job.sample, status="succeeded",
                               submitted_by=job.submitted_by, finished_at=job.finished_at)
    s3.client().put_object(Bucket=bucket_name("results"),
                           Key=keys.job_output_key(job.lab, rerun.pk, "metadata.json"), Body=b"{}")
    retention.job_hold_place(actor=staff, job=job, reason="Case 20")
    retention.job_hold_place(actor=staff, job=rerun, reason="Case 20")

    retention.job_hold_lift(actor=staff, job=job, reason="first analysis released")
    assert hold_states(job) == {"raw": {True}, "results": {False}}
    assert hold_states(rerun) == {"raw": {True}, "results": {True}}
    lifted = AuditEvent.objects.filter(action=audit_actions.LEGAL_HOLD_LIFTED).get()
    assert lifted.details["object_versions_released"]["raw"] == 0

    retention.job_hold_lift(actor=staff, job=rerun, reason="second analysis released")
    assert hold_states(rerun) == {"raw": {False}, "results": {False}}


def test_a_report_written_while_the_job_is_held_is_held_as_it_is_written(job, staff):
    from jobs.reports.services import _store_pdf

    retention.job_hold_place(actor=staff, job=job, reason="Case 12")
    pdf = b"%PDF-1.7 amended draft"
    report = job.reports.get()
    report.version = 2
    key, digest, _ = _store_pdf(report, pdf, signed=False)
    assert digest == hashlib.sha256(pdf).hexdigest()
    ((_, version_id),) = stored("results", key)
    assert versions.legal_hold_on(bucket_name("results"), key, version_id)


def test_storage_down_leaves_the_job_unheld_and_says_why(job, staff, request):
    request.getfixturevalue("storage_down")   # after the job's files were written
    with pytest.raises(s3.StorageError, match="cannot reach the S3 server"):
        retention.job_hold_place(actor=staff, job=job, reason="Case 13")
    job.refresh_from_db()
    assert not job.legal_hold and job.legal_hold_reason == ""
    assert not AuditEvent.objects.filter(action=audit_actions.LEGAL_HOLD_PLACED).exists()
