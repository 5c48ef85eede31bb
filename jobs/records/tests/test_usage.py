"""Usage per lab and month: a seeded October (with events either side of its boundaries) against
totals computed by hand, the CSV for invoicing, and the admin page."""

import csv
import io
import re
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone as dt_timezone
from unittest import mock

import pytest
from django.contrib.auth.models import Permission

from jobs.results.downloads import output_download_url
from jobs.models import Job, JobOutput, Sample, SampleFile
from tests.helpers import browser_page_as, make_user, screenshot
from storage import keys, ledger, s3
from storage.buckets import bucket_name
from storage.models import StoredObject
from jobs.models import JobUsage
from common.months import parse_month
from jobs.records.usage import csv_header, usage_report
from jobs.results.publishing import outputs_record
from jobs.runs.trace import compute_totals
from tenants import audit_actions
from tenants.audit import SYSTEM, audit_record
from tenants.models import AuditEvent

UTC = dt_timezone.utc
OCTOBER = parse_month("2026-10")
TRACE_HEADER = "task_id\tname\tstatus\texit\trealtime\t%cpu\n"


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@contextmanager
def frozen(moment: datetime):
    """Services stamp rows and audit events with timezone.now(); seed a past month through them."""
    with mock.patch("django.utils.timezone.now", return_value=moment):
        yield


def trace(path, *rows: str):
    path.write_text(TRACE_HEADER + "".join(f"{row}\n" for row in rows))
    return path


class Seed:
    """Samples, jobs, files, downloads and ledger rows across two labs and October's edges."""

    def __init__(self, lab_a, lab_b, manager, outsider, tmp_path):
        self.lab_a, self.lab_b, self.tmp_path = lab_a, lab_b, tmp_path
        self.user_a, self.user_b = manager.user, outsider.user
        self.manager = manager

    def sample(self, lab, name, created):
        user = self.user_a if lab == self.lab_a else self.user_b
        return Sample.objects.create(lab=lab, name=name, external_id=f"PSN-{name}", sex="female",
                                     clinical_indication="Seeded for usage", created_by=user,
                                     consent_confirmed_at=created, created_at=created,
                                     status="submitted")

    def job(self, sample, status, submitted, finished, trace_rows=()):
        user = self.user_a if sample.lab == self.lab_a else self.user_b
        job = Job.objects.create(id=uuid.uuid4(), lab=sample.lab, sample=sample, status=status,
                                 submitted_by=user, submitted_at=submitted, finished_at=finished)
        if trace_rows:
            outputs_record(job=job, published=[],
                           trace_path=trace(self.tmp_path / f"{job.pk}.txt", *trace_rows))
        return job

    def file(self, sample, read, size, verified_at, status="verified"):
        return SampleFile.objects.create(
            lab=sample.lab, sample=sample, read=read, original_name=f"{sample.name}_R{read}.fq.gz",
            size=size, key=keys.raw_fastq_key(sample.lab, sample.job_id, sample.name, read),
            status=status, verified_at=verified_at)

    def stored(self, role, lab, key, size, created, deleted=None):
        with frozen(created):
            ledger.record_put(bucket=bucket_name(role), key=key, size=size, lab=lab)
        if deleted:
            with frozen(deleted):
                ledger.record_delete(bucket=bucket_name(role), key=key)

    def download(self, output, moment):
        bucket = bucket_name(output.bucket_role)   # the file is there to be downloaded
        if not s3.bucket_exists(bucket):
            s3.create_bucket(bucket)
        s3.put_bytes(bucket, output.key, b"x" * output.size, content_type="text/plain")
        with frozen(moment):
            output_download_url(membership=self.manager, output=output, reason="clinical_care")

    def seed(self):
        a, b = self.lab_a, self.lab_b
        # Lab A. Jobs: J1 and J5 (a re-analysis of S1) and J6 (since archived) succeed in
        # October; J2 is submitted in October but ends in November; J3 was submitted in
        # September and fails on October 1st.
        s1 = self.sample(a, "S1", at(2026, 10, 1, 9))
        s2 = self.sample(a, "S2", at(2026, 10, 30, 8))
        s3 = self.sample(a, "S3", at(2026, 9, 30, 8))
        s4 = self.sample(a, "S4", at(2026, 10, 14, 8))
        j1 = self.job(s1, "succeeded", at(2026, 10, 3, 10), at(2026, 10, 4, 10),
                      ["1\tFASTP (S1)\tCOMPLETED\t0\t1h\t200.0%",      # 2 CPU hours
                       "2\tBWA_MEM (S1)\tCOMPLETED\t0\t30m\t100.0%",   # 0.5
                       "3\tANNOTATE (S1)\tFAILED\t1\t-\t-"])            # nothing measured
        self.job(s2, "succeeded", at(2026, 10, 30, 23), at(2026, 11, 1, 1),
                 ["1\tFASTP (S2)\tCOMPLETED\t0\t10h\t100.0%"])           # November's
        self.job(s3, "failed", at(2026, 9, 30, 22), at(2026, 10, 1, 0, 30))
        self.job(s1, "succeeded", at(2026, 10, 20, 10), at(2026, 10, 21, 10),
                 ["1\tCALL (S1)\tCOMPLETED\t0\t2h\t50.0%"])              # 1 CPU hour
        self.job(s4, "archived", at(2026, 10, 15, 10), at(2026, 10, 16, 10),
                 ["1\tCALL (S4)\tCOMPLETED\t0\t15m\t200.0%"])            # 0.5
        # Uploads: verified in October count, whenever they started.
        self.file(s1, 1, 1000, at(2026, 10, 2))
        self.file(s1, 2, 1500, at(2026, 10, 2))
        self.file(s2, 1, 2000, at(2026, 10, 31, 23, 59, 59))
        self.file(s2, 2, 2500, at(2026, 10, 31, 23, 59, 59))
        self.file(s4, 1, 3000, at(2026, 9, 30, 23, 59, 59))                # September's
        self.file(s4, 2, 3500, at(2026, 10, 1))
        self.file(s3, 1, 9999, None, status="corrupt")                    # never verified
        # Downloads: the file's size in each audited download event of the month.
        table = JobOutput.objects.create(lab=a, job=j1, path="S1_Final_.txt", bucket_role="results",
                                         key=keys.job_output_key(a, j1.pk, "S1_Final_.txt"),
                                         size=700, sha256="a" * 64, verified_at=at(2026, 10, 4))
        self.download(table, at(2026, 10, 5, 9))
        self.download(table, at(2026, 10, 31, 23, 59))
        self.download(table, at(2026, 9, 30, 23, 59))                     # September's
        self.download(table, at(2026, 11, 1, 0, 0))                       # November's
        with frozen(at(2026, 10, 6)):
            audit_record(actor=SYSTEM, action=audit_actions.REPORT_DOWNLOADED, lab=a,
                         resource_type="report", resource_id=uuid.uuid4(),
                         details={"size": 300, "signed": True})
        # Storage: the ledger as it stood at the end of October.
        j = j1.pk
        self.stored("raw", a, f"{a.pk}/{j}/S1_R1.fastq.gz", 1000, at(2026, 10, 2))
        self.stored("raw", a, f"{a.pk}/{j}/S1_R2.fastq.gz", 1500, at(2026, 10, 2),
                    deleted=at(2026, 10, 20))                             # gone by then
        self.stored("intermediate", a, f"{a.pk}/{j}/bam/S1.bam", 4000, at(2026, 9, 15))
        self.stored("intermediate", a, f"{a.pk}/{j}/vcf/S1.raw.vcf", 600, at(2026, 9, 1),
                    deleted=at(2026, 11, 1))                              # deleted as it ended
        self.stored("results", a, f"{a.pk}/{j}/S1_Final_.txt", 700, at(2026, 10, 4))
        self.stored("results", a, f"{a.pk}/{j}/metadata.json", 5000, at(2026, 11, 1))  # Nov
        self.stored("archives", a, keys.archive_key(a, j, at(2026, 10, 9).date()), 9000,
                    at(2026, 10, 9))
        self.stored("logs", a, keys.log_key(at(2026, 10, 3).date(), j, "trace.txt"), 50,
                    at(2026, 10, 4))
        self.stored("reference", None, "wes-mini/ref.fa", 12345, at(2026, 8, 1))

        # Lab B: one sample, one job, a small upload and its raw data, nothing downloaded.
        t1 = self.sample(b, "T1", at(2026, 10, 11))
        self.job(t1, "succeeded", at(2026, 10, 12, 8), at(2026, 10, 12, 20),
                 ["1\tFASTP (T1)\tCOMPLETED\t0\t3h\t50.0%"])             # 1.5 CPU hours
        self.job(t1, "failed", at(2026, 10, 13, 8), at(2026, 10, 13, 9))
        self.file(t1, 1, 800, at(2026, 10, 11, 12))
        self.file(t1, 2, 900, at(2026, 10, 11, 12))
        self.stored("raw", b, f"{b.pk}/{t1.job_id}/T1_R1.fastq.gz", 800, at(2026, 10, 11))
        self.stored("raw", b, f"{b.pk}/{t1.job_id}/T1_R2.fastq.gz", 900, at(2026, 10, 11))


@pytest.fixture
def seeded(lab_a, lab_b, manager, outsider, tmp_path, moto_s3):
    Seed(lab_a, lab_b, manager, outsider, tmp_path).seed()
    return {"a": lab_a, "b": lab_b}


def figures(row) -> dict:
    return {"samples": row.samples_submitted, "succeeded": row.jobs_succeeded,
            "failed": row.jobs_failed, "cpu_hours": round(row.compute_hours, 6),
            "uploaded": row.bytes_uploaded, "downloaded": row.bytes_downloaded,
            "stored": {role: size for role, size in row.stored.items() if size},
            "objects": row.objects_stored}


def test_it_totals_a_seeded_month_as_computed_by_hand(seeded):
    report = usage_report(month=OCTOBER, now=at(2027, 1, 1))
    rows = {row.lab.slug if row.lab else "shared": row for row in report}
    assert list(rows) == ["lab-a", "lab-b", "shared"]
    assert report.stored_at == at(2026, 11, 1) and not report.is_current
    assert figures(rows["lab-a"]) == {
        "samples": 3,                              # S1 (twice), S2, S4; S3 was September's
        "succeeded": 3, "failed": 1,               # J1, J5, J6 (archived); J3
        "cpu_hours": 4.0,                          # 2 + 0.5 + 1 + 0.5; not J2's 10 (November)
        "uploaded": 1000 + 1500 + 2000 + 2500 + 3500,
        "downloaded": 700 + 700 + 300,             # two table downloads and a report
        "stored": {"raw": 1000, "intermediate": 4000 + 600, "results": 700, "archives": 9000,
                   "logs": 50},
        "objects": 6}
    assert figures(rows["lab-b"]) == {
        "samples": 1, "succeeded": 1, "failed": 1, "cpu_hours": 1.5, "uploaded": 1700,
        "downloaded": 0, "stored": {"raw": 1700}, "objects": 2}
    assert figures(rows["shared"]) == {
        "samples": 0, "succeeded": 0, "failed": 0, "cpu_hours": 0.0, "uploaded": 0,
        "downloaded": 0, "stored": {"reference": 12345}, "objects": 1}
    totals = report.totals
    assert (totals.jobs_succeeded, totals.jobs_failed, totals.compute_hours) == (4, 2, 5.5)
    assert totals.bytes_stored == 1000 + 4600 + 700 + 9000 + 50 + 1700 + 12345


def test_it_reports_the_current_month_as_stored_now(seeded):
    report = usage_report(month=parse_month("2026-11"), now=at(2026, 11, 1, 12))
    lab_a = next(row for row in report if row.lab == seeded["a"])
    assert report.is_current and report.stored_at == at(2026, 11, 1, 12)
    # metadata.json arrived at midnight; the raw VCF was deleted at midnight.
    assert lab_a.stored["results"] == 700 + 5000 and lab_a.stored["intermediate"] == 4000
    assert (lab_a.jobs_succeeded, lab_a.compute_hours, lab_a.bytes_downloaded) == (1, 10.0, 700)


def test_it_takes_compute_hours_from_realtime_and_cpu_share(tmp_path):
    path = trace(tmp_path / "trace.txt",
                 "1\tFASTP (S)\tCOMPLETED\t0\t1m 30s\t350.5%",
                 "2\tBWA (S)\tCACHED\t0\t2.5s\t100.0%",
                 "3\tSORT (S)\tFAILED\t137\t-\t-")
    cpu, realtime, tasks = compute_totals(path)
    assert cpu == pytest.approx(90 * 3.505 + 2.5)
    assert (realtime, tasks) == (92.5, 3)
    assert compute_totals(tmp_path / "absent.txt") == (0.0, 0.0, 0)


def test_it_records_a_published_job_again_without_counting_it_twice(lab_a, manager, tmp_path):
    sample = Seed(lab_a, lab_a, manager, manager, tmp_path).sample(lab_a, "S9", at(2026, 10, 1))
    job = Job.objects.create(lab=lab_a, sample=sample, submitted_by=manager.user,
                             status="running")
    published = [("S9_Final_.txt", "results", f"{lab_a.pk}/{job.pk}/S9_Final_.txt", 70, "b" * 64)]
    path = trace(tmp_path / "t.txt", "1\tFASTP (S9)\tCOMPLETED\t0\t1h\t100.0%")
    outputs_record(job=job, published=published, trace_path=path)
    outputs_record(job=job, published=published, trace_path=path)   # a retried publish
    assert JobUsage.objects.get(job=job).cpu_seconds == 3600
    live = StoredObject.objects.filter(deleted_at__isnull=True)
    assert list(live.values_list("bucket", "key", "size", "lab", "job_id", "sha256")) == [
        (bucket_name("results"), published[0][2], 70, lab_a.pk, job.pk, "b" * 64)]


def test_it_puts_the_file_size_in_the_download_event(seeded):
    sizes = AuditEvent.objects.filter(action=audit_actions.OUTPUT_DOWNLOADED) \
        .values_list("details__size", flat=True)
    assert list(sizes) == [700] * 4


@pytest.fixture
def staff(db):
    return make_user("ops@wes.test", is_staff=True, is_superuser=True)


def cells(html: str) -> dict[str, dict[str, str]]:
    """{lab slug or "": {column: data-value}} from the page's table."""
    table = {}
    for slug, row in re.findall(r'<tr data-lab="([^"]*)">(.*?)</tr>', html, re.S):
        table[slug] = dict(re.findall(r'data-column="([^"]+)" data-value="([^"]*)"', row))
    return table


def test_it_exports_the_same_figures_as_the_table(client_for, staff, seeded):
    client = client_for(staff)
    page = client.get("/admin/usage/?month=2026-10")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Usage in October 2026" in html and "Export CSV for invoicing" in html
    table = cells(html)

    response = client.get("/admin/usage/csv/?month=2026-10")
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="wes-usage-2026-10.csv"'
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert list(rows[0]) == csv_header()
    assert [r["lab_slug"] for r in rows] == ["lab-a", "lab-b", ""]
    for row in rows:
        shown = table[row["lab_slug"]]
        assert {column: row[column] for column in shown} == shown, row["lab_name"]
    lab_a = rows[0]
    assert (lab_a["compute_hours"], lab_a["bytes_uploaded"], lab_a["bytes_stored_total"]) == (
        "4.000", "10500", str(1000 + 4600 + 700 + 9000 + 50))
    assert lab_a["stored_at"] == "2026-11-01T00:00:00+00:00"

    event = AuditEvent.objects.get(action=audit_actions.USAGE_EXPORTED)
    assert event.actor_email == "ops@wes.test" and event.data_exported
    assert event.details["month"] == "2026-10" and event.details["labs"] == 3


def test_it_explains_a_month_it_cannot_read(client_for, staff):
    client = client_for(staff)
    page = client.get("/admin/usage/?month=October")
    assert page.status_code == 200
    assert "&#x27;October&#x27; is not a month: write it as YYYY-MM" in page.content.decode()
    response = client.get("/admin/usage/csv/?month=2026-13")
    assert response.status_code == 400
    assert "'2026-13' is not a month: write it as YYYY-MM" in response.content.decode()
    assert not AuditEvent.objects.filter(action=audit_actions.USAGE_EXPORTED).exists()


@pytest.mark.parametrize("url", ["/admin/usage/", "/admin/usage/csv/?month=2026-10"])
def test_it_sends_non_staff_to_sign_in_and_refuses_staff_without_permission(client, client_for,
                                                                            manager, url):
    assert client.get(url).status_code == 302
    response = client_for(manager).get(url)
    assert response.status_code == 302 and "/admin/login/" in response.url
    helper = make_user("helpdesk@wes.test", is_staff=True)
    assert client_for(helper).get(url).status_code == 403
    helper.user_permissions.add(Permission.objects.get(codename="view_reconciliationrun"))
    assert client_for(helper).get(url).status_code == 200


def test_it_links_the_operations_pages_from_the_admin_index(client_for, staff):
    html = client_for(staff).get("/admin/").content.decode()
    for link in ("/admin/usage/", "/admin/storage-dashboard/", "/admin/retention/"):
        assert f'href="{link}"' in html


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_usage_page_in_a_browser(chromium, live_server, client, lab_a, lab_b, manager,
                                     outsider, tmp_path, moto_s3):
    Seed(lab_a, lab_b, manager, outsider, tmp_path).seed()
    staff = make_user("ops@wes.test", is_staff=True, is_superuser=True)
    page = browser_page_as(chromium, live_server, client, staff)
    page.goto(live_server.url + "/admin/usage/")
    page.fill("input[name=month]", "2026-10")
    page.click("input[value=Show]")
    page.wait_for_url(re.compile(r".*month=2026-10"))
    assert page.locator("#usage-table tbody tr").count() == 3
    assert page.locator("#chart-storage .seg").count() == 7   # A: 5 buckets, B: 1, shared: 1
    # At 1280 px the per-lab table scrolls inside its box; the page itself does not.
    page.set_viewport_size({"width": 1280, "height": 900})
    widths = page.evaluate("""() => {
        const box = document.querySelector('#usage-table').closest('.table-scroll')
        return {page: document.documentElement.scrollWidth, view: window.innerWidth,
                overflow: box && getComputedStyle(box).overflowX,
                boxRight: box && box.getBoundingClientRect().right}}""")
    assert widths["overflow"] == "auto" and widths["boxRight"] <= 1280, widths
    assert widths["page"] <= widths["view"], widths
    screenshot(page, "admin-usage")
    with page.expect_download() as download:
        page.click("#usage-csv")
    assert download.value.suggested_filename == "wes-usage-2026-10.csv"
    page.context.close()


def test_the_chart_and_the_table_give_compute_in_the_same_unit(client_for, staff, seeded):
    from jobs.models import JobUsage

    JobUsage.objects.filter(lab__slug="lab-b").update(cpu_seconds=11)   # 11 s: not "0.00"
    html = client_for(staff).get("/admin/usage/?month=2026-10").content.decode()
    chart = html.split('id="chart-compute"')[1].split("</div>\n    <div")[0]
    charted = re.findall(r'<span class="value">([^<]*)</span>', chart)
    tabled = re.findall(r'data-column="compute_hours" data-value="[^"]*">([^<]*)</td>', html)
    assert charted == [f"{value} h" for value in tabled]
    assert tabled[:2] == ["4.00", "&lt; 0.01"]
    assert "CPU hours" in chart


def test_the_samples_column_says_it_counts_samples_submitted(client_for, staff, seeded):
    html = client_for(staff).get("/admin/usage/?month=2026-10").content.decode()
    heading = html.split('data-heading="samples_submitted">')[1].split("</th>")[0]
    assert ">Samples submitted</abbr>" in heading
    assert "Distinct samples with an analysis submitted this month" in heading


def test_a_lab_name_that_reads_as_a_formula_is_exported_as_text(client_for, staff, seeded):
    """The same neutralisation as the audit CSV (common/csv_cells.py): a spreadsheet must show
    the name, not run it."""
    from tenants.models import Lab

    Lab.objects.filter(slug="lab-a").update(name='=HYPERLINK("http://evil.test","Lab A")')
    response = client_for(staff).get("/admin/usage/csv/?month=2026-10")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert rows[0]["lab_name"] == '\'=HYPERLINK("http://evil.test","Lab A")'
    assert rows[0]["bytes_uploaded"] == "10500", "numbers stay numbers"
