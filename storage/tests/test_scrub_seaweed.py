"""The storage scrub (`manage.py verify_storage`) on the real S3 server (SeaweedFS): objects stored
as the portal stores them, then changed behind its back; findings, e-mail, exit status, resuming
and the rotating sample."""

import hashlib
import os
import uuid
from datetime import timedelta

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone
from django_q.models import Schedule

from storage import keys, ledger, multipart, s3, scrub, versions
from storage.buckets import bucket_name
from storage.models import ScrubFinding, ScrubRun, StoredObject
from storage.scrub_schedule import SCRUB_TASK, scrub_schedule_sync

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("admins")]


@pytest.fixture
def admins(settings):
    settings.ADMINS = [("Ops", "ops@lab.test")]


def store(role: str, key: str, body: bytes, *, lab=None, record_digest: bool = True) -> str:
    """Write an object and record it as the portal's writers do (put, then ledger with digest)."""
    bucket = bucket_name(role)
    s3.put_bytes(bucket, key, body, content_type="application/octet-stream")
    ledger.record_put(bucket=bucket, key=key, size=len(body), lab=lab,
                      sha256=hashlib.sha256(body).hexdigest() if record_digest else "")
    return key


def behind_the_portals_back(role: str, key: str, body: bytes) -> None:
    s3.client().put_object(Bucket=bucket_name(role), Key=key, Body=body)


@pytest.fixture
def stored(provisioned_s3, lab_a):
    job = uuid.uuid4()
    return {
        "report": store("results", keys.job_output_key(lab_a, job, "S1_report.pdf"),
                        b"%PDF report " * 100, lab=lab_a),
        "variants": store("results", keys.job_output_key(lab_a, job, "S1_Final_.txt"),
                          b"chr1\t100\tA\tG\n" * 50, lab=lab_a),
        "bam": store("intermediate", keys.job_output_key(lab_a, job, "bam/S1.bam"),
                     b"BAM\x01" * 4000, lab=lab_a),
        "fastq": store("raw", keys.raw_fastq_key(lab_a, job, "S1", 1), b"@r1\nACGT\n+\nIIII\n" * 64,
                       lab=lab_a),
        "reference": store("reference", keys.reference_key("wes-mini", "ref.fa"),
                           b">chr1\n" + b"ACGT" * 3000),
        # Larger than one read chunk, so the digest is built over several reads.
        "big": store("results", keys.job_output_key(lab_a, job, "S1.vcf.gz"),
                     bytes(range(256)) * (40 * 1024 + 3), lab=lab_a),
    }


def verify(*args) -> int:
    try:
        call_command("verify_storage", *args)
    except CommandError as exc:
        return exc.returncode
    return 0


def test_it_finds_nothing_on_a_clean_store(stored, capsys):
    assert verify("--all") == 0
    run = ScrubRun.objects.get()
    assert (run.status, run.objects_checked, run.findings_count) == ("clean", 6, 0)
    assert run.bytes_read == sum(o.size for o in StoredObject.objects.all())
    assert not ScrubFinding.objects.exists() and mail.outbox == []
    assert "Every object checked matches its records." in capsys.readouterr().out


def test_it_reports_an_overwritten_a_deleted_a_truncated_and_an_unreadable_object(stored, lab_a):
    report, bam, fastq, reference = (stored[name] for name in ("report", "bam", "fastq",
                                                                "reference"))
    original = s3.open_object(bucket_name("results"), report).read()
    tampered = original.replace(b"report", b"REPORT")         # same size, other bytes
    behind_the_portals_back("results", report, tampered)      # a new latest version
    s3.client().delete_object(Bucket=bucket_name("raw"), Key=fastq)   # a delete marker
    behind_the_portals_back("intermediate", bam, b"BAM\x01" * 10)     # truncated
    # The same bytes, encrypted again with a customer key the portal does not have: unreadable.
    same = s3.open_object(bucket_name("reference"), reference).read()
    s3.client().put_object(Bucket=bucket_name("reference"), Key=reference, Body=same,
                           SSECustomerAlgorithm="AES256", SSECustomerKey=os.urandom(32))

    assert verify() == 1
    findings = {f.key: f for f in ScrubFinding.objects.all()}
    assert {k: f.kind for k, f in findings.items()} == {
        report: "sha256_mismatch", fastq: "missing", bam: "size_mismatch",
        reference: "unreadable"}
    assert "must provide the customer key" in findings[reference].found
    changed = findings[report]
    # The overwrite is what a download would serve; the intact bytes lie beneath it.
    assert changed.found.startswith(f"SHA-256 {hashlib.sha256(tampered).hexdigest()}; 1 earlier "
                                    "version(s) stored, 1 of the recorded size (newest: ")
    assert versions.object_version_count(bucket_name("results"), report) == 2
    assert hashlib.sha256(original).hexdigest() in changed.expected
    assert changed.version_id                       # the version read: the overwrite
    assert changed.lab == lab_a and changed.resolved_at is None
    assert findings[fastq].found.startswith("no such object (deleted or lost); 1 earlier")
    assert findings[bam].found == "40 bytes" and "16,000 bytes" in findings[bam].expected
    run = ScrubRun.objects.get()
    assert (run.status, run.objects_checked, run.findings_count, run.new_findings_count) == (
        "findings", 6, 4, 4)

    [message] = mail.outbox
    assert message.to == ["ops@lab.test"]
    assert "4 objects missing, changed or unreadable" in message.subject
    for key in (report, bam, fastq, reference):
        assert key in message.body

    state = scrub.scrub_state()
    assert state["open_findings"] == {"missing": 1, "size_mismatch": 1, "sha256_mismatch": 1,
                                      "unreadable": 1}
    assert state["last_objects_checked"] == 6 and state["last_finished_at"] == run.finished_at

    # Still wrong on the next run: reported again by the exit status, not mailed again.
    assert verify("--all") == 1
    assert len(mail.outbox) == 1 and ScrubFinding.objects.count() == 4
    assert ScrubRun.objects.latest("pk").new_findings_count == 0

    # Put right (the intact bytes written back), and the finding is resolved.
    behind_the_portals_back("results", report, original)
    verify("--all")
    changed.refresh_from_db()
    assert changed.resolved_at is not None
    assert ScrubFinding.objects.filter(resolved_at__isnull=True).count() == 3


def test_a_size_recorded_without_digest_is_still_checked(provisioned_s3):
    key = store("reference", keys.reference_key("wes-mini", "genes.bed"), b"chr1\t1\t2\n" * 9,
                record_digest=False)
    behind_the_portals_back("reference", key, b"chr1\t1\t3\n" * 9)   # same size: not detectable
    assert verify() == 0
    assert ScrubRun.objects.get().objects_size_only == 1
    behind_the_portals_back("reference", key, b"short")
    assert verify() == 1


def test_an_object_the_portal_deletes_resolves_its_finding(stored):
    s3.client().delete_object(Bucket=bucket_name("results"), Key=stored["variants"])
    assert verify() == 1
    ledger.record_delete(bucket=bucket_name("results"), key=stored["variants"])
    assert verify() == 0
    assert ScrubFinding.objects.get().resolved_at is not None


def test_uploads_in_progress_and_expired_raw_data_are_not_findings(provisioned_s3, lab_a):
    raw = bucket_name("raw")
    uploading = keys.raw_fastq_key(lab_a, uuid.uuid4(), "UP", 1)
    upload_id = multipart.start_multipart_upload(raw, uploading)
    ledger.record_put(bucket=raw, key=uploading, size=10**9, lab=lab_a)   # as uploads.py does
    expired = ledger.record_put(bucket=raw, key=keys.raw_fastq_key(lab_a, uuid.uuid4(), "OLD", 1),
                                size=4096, lab=lab_a)
    StoredObject.objects.filter(pk=expired.pk).update(created_at=timezone.now() - timedelta(days=8))
    try:
        assert verify() == 0
        assert ScrubRun.objects.get().objects_checked == 1     # the upload; not the expired row
    finally:
        multipart.abort_multipart_upload(raw, uploading, upload_id)


@pytest.fixture
def checked_keys(monkeypatch):
    """The keys the scrub reads, in order; `stop_at` makes it stop (Ctrl-C) before one of them."""
    seen, stop = [], {"at": None}
    real_check = scrub.check_object

    def check(item, **kwargs):
        if item.key == stop["at"]:
            stop["at"] = None
            raise KeyboardInterrupt
        seen.append(item.key)
        return real_check(item, **kwargs)

    monkeypatch.setattr(scrub, "check_object", check)
    return seen, stop


def in_order(stored):
    return [o.key for o in StoredObject.objects.order_by("bucket", "key")]


def test_an_interrupted_run_resumes_where_it_stopped(stored, checked_keys):
    seen, stop = checked_keys
    everything = in_order(stored)
    behind_the_portals_back("results", stored["report"], b"x" * 1200)    # same size
    stop["at"] = everything[3]
    with pytest.raises(SystemExit) as stopped:
        call_command("verify_storage", "--all")
    assert stopped.value.code == 130
    run = ScrubRun.objects.get()
    assert (run.status, run.objects_checked, run.cursor_key) == ("interrupted", 3, everything[2])
    assert seen == everything[:3]

    assert verify("--resume") == 1
    run.refresh_from_db()
    assert seen == everything                    # each object once, in order
    assert (run.status, run.objects_checked) == ("findings", 6)
    assert ScrubFinding.objects.get().key == stored["report"]
    assert len(mail.outbox) == 1
    with pytest.raises(CommandError, match="no interrupted or failed scrub run"):
        call_command("verify_storage", "--resume")


def test_the_sample_mode_rotates_through_every_object(stored, checked_keys):
    seen, _ = checked_keys
    everything = in_order(stored)
    for _ in range(4):
        assert verify("--sample", "4") == 0
    # 4 + 4 + 4 + 4 objects: round the six once, and on from where the last run stopped.
    assert seen == (everything * 3)[:16]
    assert [r.objects_checked for r in ScrubRun.objects.order_by("pk")] == [4, 4, 4, 4]


def test_a_storage_outage_fails_the_run_without_findings(provisioned_s3, lab_a, storage_down):
    ledger.record_put(bucket=bucket_name("results"), key=keys.job_output_key(
        lab_a, uuid.uuid4(), "x.txt"), size=5, lab=lab_a, sha256="0" * 64)
    assert verify() == 2
    run = ScrubRun.objects.get()
    assert run.status == "failed" and "cannot reach the S3 server" in run.error
    assert not ScrubFinding.objects.exists() and mail.outbox == []
    assert scrub.unfinished_run() == run           # `--resume` takes it up


def test_bad_arguments_are_refused_clearly(provisioned_s3):
    with pytest.raises(CommandError, match="at least 1"):
        call_command("verify_storage", "--sample", "0")
    with pytest.raises(CommandError, match="not allowed with"):
        call_command("verify_storage", "--all", "--resume")


def test_the_scheduled_run_checks_its_sample_and_follows_the_setting(stored, settings):
    settings.SCRUB_SAMPLE = 2
    assert scrub.scrub_scheduled().startswith("clean: 2 checked")
    assert ScrubRun.objects.get().trigger == "schedule"
    with override_settings(SCRUB_SCHEDULE="15 1 * * 0"):
        scrub_schedule_sync()
    assert Schedule.objects.get(func=SCRUB_TASK).cron == "15 1 * * 0"
    with override_settings(SCRUB_SCHEDULE="off"):
        scrub_schedule_sync()
    assert not Schedule.objects.filter(func=SCRUB_TASK).exists()


def test_a_large_object_is_read_in_chunks_with_bounded_memory(provisioned_s3, lab_a):
    import tracemalloc

    from storage.checksums import CHUNK

    body = os.urandom(1024 * 1024) * 48                                 # 48 MiB
    key = store("results", keys.job_output_key(lab_a, uuid.uuid4(), "S1.bam"), body, lab=lab_a)
    item = next(scrub.expected_objects())
    assert item.key == key
    tracemalloc.start()
    try:
        problem, read = scrub.check_object(item)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (problem, read) == (None, len(body))
    assert peak < 3 * CHUNK, f"peak {peak / 2**20:.1f} MiB reading a 48 MiB object"
