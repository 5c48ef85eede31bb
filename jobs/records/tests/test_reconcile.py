"""Reconciliation on the real S3 server (SeaweedFS): each lab's prefix listed against the object
ledger; the storage dashboard that shows its latest snapshot."""

import json
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.utils import timezone

from jobs.models import Job, Sample
from tests.upload_client import DirectUploader, sample_fields
from tests.helpers import browser_page_as, make_user, screenshot
from jobs.records import reconciliation as reconcile
from storage import keys, ledger, multipart, s3
from storage.buckets import bucket_name
from storage.models import StoredObject
from jobs.models import LabUsageSnapshot, ReconciliationRun
from jobs.records.reconciliation import storage_reconcile

pytestmark = pytest.mark.django_db


def put(role: str, key: str, body: bytes, *, lab=None, record: bool = True, size=None):
    """Write an object; record it in the ledger as the portal's writers do (or not)."""
    s3.client().put_object(Bucket=bucket_name(role), Key=key, Body=body)
    if record:
        ledger.record_put(bucket=bucket_name(role), key=key, size=len(body) if size is None
                          else size, lab=lab, job_id=None)


@pytest.fixture
def judge_everything(monkeypatch):
    """Objects written seconds ago count as recent (their ledger row may not be committed yet);
    these tests write them seconds ago on purpose and want them judged."""
    monkeypatch.setattr(reconcile, "RECENT", timedelta(0))


@pytest.fixture
def stocked(provisioned_s3, lab_a, lab_b):
    """Two labs' objects in every bucket, all recorded, and a few differences."""
    job_a, job_b = uuid.uuid4(), uuid.uuid4()
    a, b = lab_a, lab_b
    put("raw", keys.raw_fastq_key(a, job_a, "S1", 1), b"r1" * 50, lab=a)
    put("raw", keys.raw_fastq_key(a, job_a, "S1", 2), b"r2" * 50, lab=a)
    put("intermediate", keys.job_output_key(a, job_a, "bam/S1.bam"), b"bam" * 100, lab=a)
    put("results", keys.job_output_key(a, job_a, "S1_Final_.txt"), b"variants", lab=a)
    put("archives", keys.archive_key(a, job_a, timezone.localdate()), b"tar" * 10, lab=a)
    put("logs", keys.log_key(timezone.localdate(), job_a, "trace.txt"), b"trace", lab=a)
    put("reference", keys.reference_key("wes-mini", "ref.fa"), b">chr1\nACGT\n")
    for n in range(30):
        put("results", keys.job_output_key(b, job_b, f"qc/part{n:02}.json"), b"{}" * n, lab=b)
    # The differences: written around the portal, recorded but gone, recorded with another
    # size, and a key outside every lab's prefix.
    put("raw", keys.raw_fastq_key(a, uuid.uuid4(), "ROGUE", 1), b"unrecorded", record=False)
    ledger.record_put(bucket=bucket_name("results"), key=keys.job_output_key(
        a, job_a, "metadata.json"), size=321, lab=a)
    put("intermediate", keys.job_output_key(b, job_b, "vcf/T1.vcf.gz"), b"vcf" * 10, lab=b,
        size=999)
    put("results", "tmp/left-behind.txt", b"stray", record=False)
    # A raw FASTQ recorded eight days ago, removed since by the bucket's 7-day expiry rule.
    expired = ledger.record_put(bucket=bucket_name("raw"), key=keys.raw_fastq_key(
        b, uuid.uuid4(), "OLD", 1), size=4096, lab=b)
    StoredObject.objects.filter(pk=expired.pk).update(
        created_at=timezone.now() - timedelta(days=8))
    return {"a": a, "b": b, "expired": expired}


def snapshot(run, role, lab):
    return LabUsageSnapshot.objects.get(run=run, bucket=bucket_name(role), lab=lab)


def test_it_flags_unrecorded_and_missing_objects_and_counts_the_rest(stocked, judge_everything):
    a, b = stocked["a"], stocked["b"]
    run = storage_reconcile(trigger="test")

    assert run.status == "differences" and run.error == ""
    assert (run.unrecorded_count, run.missing_count, run.size_mismatch_count,
            run.expired_count) == (2, 1, 1, 1)
    assert run.objects_listed == 7 + 30 + 1 + 2       # the stocked, B's, the VCF, the two rogues

    raw_a = snapshot(run, "raw", a)
    assert (raw_a.object_count, raw_a.ledger_count, raw_a.unrecorded_count) == (3, 2, 1)
    assert raw_a.unrecorded_sample[0]["key"].endswith("/ROGUE_R1.fastq.gz")
    assert raw_a.unrecorded_bytes == len(b"unrecorded") and raw_a.status == "differences"

    results_a = snapshot(run, "results", a)
    assert (results_a.object_count, results_a.ledger_count, results_a.missing_count) == (1, 2, 1)
    assert results_a.missing_sample == [{
        "key": keys.job_output_key(a, stocked_job(results_a), "metadata.json"), "size": 321,
        "recorded_at": results_a.missing_sample[0]["recorded_at"]}]

    results_b = snapshot(run, "results", b)
    assert (results_b.object_count, results_b.bytes_listed, results_b.status) == (
        30, sum(2 * n for n in range(30)), "matches")
    assert results_b.ledger_bytes == results_b.bytes_listed

    vcf = snapshot(run, "intermediate", b)
    assert vcf.size_mismatch_sample == [{"key": vcf.size_mismatch_sample[0]["key"],
                                         "listed": 30, "recorded": 999}]
    stray = snapshot(run, "results", None)
    assert stray.unrecorded_sample[0]["key"] == "tmp/left-behind.txt"
    assert snapshot(run, "archives", a).status == "matches"
    assert snapshot(run, "logs", a).object_count == 1            # its lab from its ledger row
    assert snapshot(run, "reference", None).status == "matches"

    raw_b = snapshot(run, "raw", b)
    assert (raw_b.expired_count, raw_b.missing_count) == (1, 0)
    expired = StoredObject.objects.get(pk=stocked["expired"].pk)
    assert expired.deleted_at == expired.created_at + timedelta(days=7)


def stocked_job(snapshot_row):
    return uuid.UUID(snapshot_row.missing_sample[0]["key"].split("/")[1])


def test_it_lists_by_prefix_never_object_by_object(stocked, judge_everything):
    run = storage_reconcile(trigger="test")
    # raw, intermediate, results: one listing per lab and one of the top level; results also
    # lists the stray prefix; archives, logs, reference: one listing each. 40 objects, 13 calls.
    assert run.list_requests == 3 * 2 + 3 + 1 + 3
    # A thousand more objects cost one more page, not a thousand more calls.
    lab_b, results = stocked["b"], bucket_name("results")
    more = [keys.job_output_key(lab_b, uuid.uuid4(), "p.json") for _ in range(1000)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda key: s3.client().put_object(Bucket=results, Key=key, Body=b"x"),
                      more))
    StoredObject.objects.bulk_create(StoredObject(bucket=results, key=key, size=1, lab=lab_b)
                                     for key in more)
    run = storage_reconcile(trigger="test")
    assert (run.list_requests, run.objects_listed, run.differences) == (
        3 * 2 + 3 + 1 + 3 + 1, 1040, 4)


def test_it_does_not_judge_objects_still_being_written(stocked):
    run = storage_reconcile(trigger="test")
    raw_a = snapshot(run, "raw", stocked["a"])
    assert (raw_a.unrecorded_count, raw_a.recent_count) == (0, 1)
    assert run.unrecorded_count == 0 and run.missing_count == 1


def test_it_finds_nothing_to_flag_when_storage_matches(provisioned_s3, lab_a, judge_everything):
    put("raw", keys.raw_fastq_key(lab_a, uuid.uuid4(), "S1", 1), b"reads", lab=lab_a)
    run = storage_reconcile(trigger="test")
    assert (run.status, run.differences, run.objects_listed) == ("matches", 0, 1)


def test_it_records_a_failed_run_with_the_reason(storage_down, db):
    run = storage_reconcile(trigger="test")
    assert run.status == "failed" and run.finished_at
    assert f"cannot reach the S3 server at {storage_down}" in run.error


def test_the_command_names_each_difference_and_exits_non_zero(stocked, judge_everything,
                                                               capsys):
    with pytest.raises(CommandError, match=r"2 unrecorded, 1 missing, 1 with another size"):
        call_command("reconcile_storage")
    out = capsys.readouterr().out
    assert re.search(r"unrecorded: \S+/ROGUE_R1.fastq.gz \(10 bytes\) is in storage but in no "
                     r"ledger row", out)
    assert "missing: " in out and "metadata.json (321 bytes) is in the ledger but not in storage" \
        in out
    assert "is 30 bytes in storage, 999 in the ledger" in out
    assert "1 removed by the expiry rule (ledger closed)" in out


def test_the_command_says_when_storage_matches(provisioned_s3, lab_a, capsys):
    call_command("reconcile_storage")
    assert "storage matches the ledger" in capsys.readouterr().out


class ClientPortal:
    """The scripted uploader's view of the portal through Django's test client."""

    def __init__(self, client):
        self.client = client

    def post_form(self, url, data):
        response = self.client.post(url, data, HTTP_ACCEPT="application/json")
        return response.status_code, response.json()

    def post_json(self, url, data):
        response = self.client.post(url, json.dumps(data), content_type="application/json")
        return response.status_code, response.json()


@pytest.mark.django_db(transaction=True)
def test_the_portal_records_every_object_it_writes(client_for, clinician, provisioned_s3,
                                                   sync_tasks, settings, tmp_path, testdata,
                                                   judge_everything):
    settings.PIPELINE_WORK_DIR, settings.PIPELINE_RUNNER = tmp_path / "work", "local"
    settings.REFERENCE_BUILD = "wes-mini"
    reference = tmp_path / "reference"
    reference.mkdir()
    for name in ("ref.fa", "targets.bed", "genes.gff3"):
        (reference / name).write_bytes((testdata / name).read_bytes())
    call_command("load_reference", "wes-mini", str(reference))
    client = client_for(clinician)
    uploader = DirectUploader(ClientPortal(client), "lab-a", concurrency=1)
    created = uploader.upload_sample(sample_fields("TEST1"), testdata / "TEST1_R1.fastq.gz",
                                     testdata / "TEST1_R2.fastq.gz")
    client.post(f"/labs/lab-a/samples/{created['sample']['id']}/submit/")
    job = Job.objects.get()
    assert job.status == "succeeded", job.error

    live = StoredObject.objects.filter(deleted_at__isnull=True)
    raw = live.filter(bucket=bucket_name("raw"), lab=clinician.lab, job_id=job.pk)
    assert sorted(raw.values_list("size", flat=True)) == sorted(
        (testdata / f"TEST1_R{n}.fastq.gz").stat().st_size for n in (1, 2))
    # 3 files, the .fai and bwa index built at load (5 files), the manifest
    assert live.filter(bucket=bucket_name("reference"), lab=None).count() == 10
    for output in job.outputs.all():
        row = live.get(bucket=bucket_name(output.bucket_role), key=output.key)
        assert (row.size, row.sha256, row.job_id) == (output.size, output.sha256, job.pk)
    assert job.usage.cpu_seconds > 0 and job.usage.tasks >= 8

    run = storage_reconcile(trigger="test")
    assert (run.status, run.differences) == ("matches", 0), [
        (s.bucket, s.unrecorded_sample, s.missing_sample, s.size_mismatch_sample)
        for s in run.snapshots.all() if s.differences]
    assert run.objects_listed == live.count()


def test_a_plain_form_upload_is_recorded(client_for, clinician, provisioned_s3, fastq_files):
    r1, r2 = fastq_files
    client_for(clinician).post("/labs/lab-a/samples/new/", {
        **sample_fields(), "r1": SimpleUploadedFile(r1.name, r1.read_bytes()),
        "r2": SimpleUploadedFile(r2.name, r2.read_bytes())})
    sample = Sample.objects.get()
    rows = StoredObject.objects.filter(lab=clinician.lab, job_id=sample.job_id)
    assert sorted(rows.values_list("key", "size")) == sorted(
        (f.key, f.size) for f in sample.files.all())


def test_an_upload_in_progress_is_counted_and_not_a_difference(client_for, clinician,
                                                                provisioned_s3, tmp_path):
    """Issue 14.1: its ledger row (the declared size) has no object yet while parts arrive."""
    from tests.upload_client import write_random_file

    r1 = write_random_file(tmp_path / "S1_R1.fastq.gz", 1000)
    r2 = write_random_file(tmp_path / "S1_R2.fastq.gz", 1001)
    uploader = DirectUploader(ClientPortal(client_for(clinician)), "lab-a", concurrency=1)
    created = uploader.create_sample(sample_fields(), r1, r2)
    uploader.start(created["files"][0], r1)
    row = StoredObject.objects.get(deleted_at__isnull=True, lab=clinician.lab)
    assert row.size == 1000
    run = storage_reconcile(trigger="test")
    assert (run.status, run.differences) == ("matches", 0)


@pytest.fixture
def fastq_files(tmp_path):
    from tests.fastq_data import write_fastq_pair

    return write_fastq_pair(tmp_path, "S1", reads=200)


@pytest.fixture
def staff(db):
    return make_user("ops@wes.test", is_staff=True, is_superuser=True)


def test_the_dashboard_shows_the_latest_snapshot_health_and_unfinished_uploads(
        client_for, staff, stocked, judge_everything):
    storage_reconcile(trigger="test")
    key = keys.raw_fastq_key(stocked["a"], uuid.uuid4(), "HALF", 1)
    multipart.start_multipart_upload(bucket_name("raw"), key)
    html = client_for(staff).get("/admin/storage-dashboard/").content.decode()
    assert "Reachable: credentials accepted, all buckets present" in html
    results = re.search(r'<tr data-bucket="results">(.*?)</tr>', html, re.S).group(1)
    assert re.findall(r'data-value="(\d+)"', results) == [
        "32", str(len(b"variants") + sum(2 * n for n in range(30)) + len(b"stray"))]
    assert "2 unrecorded, 1 missing," in html
    assert f"<code>{key}</code>" in html and "1 unfinished upload in 6 buckets" in html
    assert "no sample file (started outside the upload page)" in html


def test_the_dashboard_explains_a_storage_server_that_is_down(client_for, staff, storage_down):
    html = client_for(staff).get("/admin/storage-dashboard/").content.decode()
    assert f"Not healthy: cannot reach the S3 server at {storage_down}" in html
    assert "Not listed: the S3 endpoint is not answering." in html
    assert "No reconciliation has finished yet" in html


def test_before_any_run_the_dashboard_shows_what_the_ledger_holds_now(client_for, staff, lab_a,
                                                                     storage_down):
    from storage.buckets import bucket_name

    for key, size in (("a", 1500), ("b", 2500)):
        StoredObject.objects.create(bucket=bucket_name("raw"), key=f"{lab_a.pk}/{key}", size=size,
                                    lab=lab_a)
    StoredObject.objects.create(bucket=bucket_name("raw"), key=f"{lab_a.pk}/gone", size=9,
                                lab=lab_a, deleted_at=timezone.now())
    html = client_for(staff).get("/admin/storage-dashboard/").content.decode()
    raw = html.split('data-bucket="raw"')[1].split("</tr>")[0]
    assert 'data-ledger-now="4000">3.9\xa0KiB <span class="quiet">(2)</span>' in raw
    assert "No reconciliation has finished yet" in html


def test_the_dashboard_queues_a_reconciliation(client_for, staff, provisioned_s3, sync_tasks,
                                               django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):   # queued when the request commits
        response = client_for(staff).post("/admin/storage-dashboard/", follow=True)
    assert "Reconciliation queued" in response.content.decode()
    assert ReconciliationRun.objects.get().trigger == "admin"


def test_the_dashboard_is_for_staff_with_the_permission(client, client_for, manager):
    url = "/admin/storage-dashboard/"
    assert client.get(url).status_code == 302
    assert client_for(manager).get(url).status_code == 302
    assert client_for(make_user("helpdesk@wes.test", is_staff=True)).get(url).status_code == 403


def test_runs_are_read_only_in_the_admin(client_for, staff, stocked, judge_everything):
    run = storage_reconcile(trigger="test")
    client = client_for(staff)
    page = client.get(f"/admin/jobs/reconciliationrun/{run.pk}/change/").content.decode()
    assert "ROGUE_R1.fastq.gz" in page and "tmp/left-behind.txt" in page
    assert client.post(f"/admin/jobs/reconciliationrun/{run.pk}/delete/",
                       {"post": "yes"}).status_code == 403
    assert client.get("/admin/jobs/reconciliationrun/add/").status_code == 403
    assert ReconciliationRun.objects.filter(pk=run.pk).exists()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_dashboard_in_a_browser(chromium, live_server, client, stocked, judge_everything):
    storage_reconcile(trigger="test")
    multipart.start_multipart_upload(bucket_name("raw"),
                                     keys.raw_fastq_key(stocked["a"], uuid.uuid4(), "HALF", 1))
    staff = make_user("ops@wes.test", is_staff=True, is_superuser=True)
    page = browser_page_as(chromium, live_server, client, staff)
    page.goto(live_server.url + "/admin/")
    page.click("text=Storage dashboard")
    page.wait_for_url(re.compile(r".*/admin/storage-dashboard/$"))
    assert page.locator("#buckets tbody tr").count() == 6
    screenshot(page, "admin-storage-dashboard")
    run = ReconciliationRun.objects.get()
    page.click(f"a[href$='/reconciliationrun/{run.pk}/change/'] >> nth=0")
    page.wait_for_url(re.compile(r".*/change/$"))
    screenshot(page, "admin-reconciliation-run")
    page.context.close()


def test_before_any_run_the_bucket_sizes_say_not_measured_rather_than_zero(client_for, staff,
                                                                          storage_down):
    html = client_for(staff).get("/admin/storage-dashboard/").content.decode()
    raw = html.split('data-bucket="raw"')[1].split("</tr>")[0]
    assert "data-not-measured>not measured yet</td>" in raw
    # the listed objects and size are not shown as 0; the ledger's own figure ("Ledger now") is
    assert 'data-value="0"' not in raw and 'data-ledger-now="0">0\xa0bytes' in raw
    assert "data-no-run>What the buckets hold is not measured yet" in html
