"""A clinician uploads a sample in headless Chromium: the real page, the real uploader bundle, the
real S3 server. Upload speed is throttled so progress, a network drop and a reload can be seen."""

import re

import pytest
from django.test import override_settings
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.helpers import make_user, screenshot
from jobs.intake.uploads import choose_part_size, reload_loss_bound
from jobs.models import Sample
from storage import multipart, s3
from storage.buckets import bucket_name
from storage.checksums import sha256_chunks, sha256_file
from tests.fastq_data import fastq_pair_of_size
from storage import provisioning

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
MB = 1024 * 1024
PASSWORD = "correct-horse-battery-staple"


@pytest.fixture(scope="module")
def big_fastq_pair(tmp_path_factory):
    return fastq_pair_of_size(tmp_path_factory.mktemp("fastq"), "NA12878", 50 * MB)


@pytest.fixture
def portal(live_server, real_s3, sync_tasks):
    """The live portal, its buckets allowing uploads from its origin, and a clinician of lab A."""
    from tenants.services import lab_create, membership_add

    with override_settings(STORAGE_UPLOAD_ORIGINS=[live_server.url]):
        provisioning.apply()
        lab = lab_create(slug="lab-a", name="Lab A Genomics")
        membership_add(lab=lab, user=make_user("clinician@lab-a.test"), role="clinician")
        yield live_server


@pytest.fixture
def portal_queued(live_server, real_s3):
    """The live portal with tasks left queued (no worker): a sample stays "verifying"."""
    from tenants.services import lab_create, membership_add

    with override_settings(STORAGE_UPLOAD_ORIGINS=[live_server.url]):
        provisioning.apply()
        lab = lab_create(slug="lab-a", name="Lab A Genomics")
        membership_add(lab=lab, user=make_user("clinician@lab-a.test"), role="clinician")
        yield live_server


def signed_in_page(chromium, portal, upload_bytes_per_second=None, javascript=True):
    context = chromium.new_context(viewport={"width": 1200, "height": 1000},
                                   java_script_enabled=javascript)
    page = context.new_page()
    if upload_bytes_per_second:
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.emulateNetworkConditions", {
            "offline": False, "latency": 0, "downloadThroughput": -1,
            "uploadThroughput": upload_bytes_per_second})
    page.goto(portal.url + "/accounts/login/")
    page.fill("input[name=login]", "clinician@lab-a.test")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/labs/lab-a/$"))
    return context, page


def fill_sample_form(page, portal, pair, name="NA12878"):
    page.goto(portal.url + "/labs/lab-a/samples/new/")
    page.fill("input[name=name]", name)
    page.fill("input[name=external_id]", "PSN-0042")
    page.select_option("select[name=sex]", "female")
    page.fill("textarea[name=clinical_indication]", "Developmental delay and seizures")
    page.fill("input[name=hpo_terms]", "HP:0001263, HP:0001250")
    page.check("input[name=consent]")
    page.set_input_files("input[name=r1]", str(pair[0]))
    page.set_input_files("input[name=r2]", str(pair[1]))


def part_puts(page) -> list[str]:
    """Collects the part uploads the page sends to S3."""
    seen = []
    page.on("request", lambda request: seen.append(request.url)
            if request.method == "PUT" and "partNumber=" in request.url else None)
    return seen


def stored_parts(page) -> list[str]:
    """Collects the part uploads S3 has answered 200 to (the part is stored)."""
    done = []

    def finished(request):
        response = request.response()
        if request.method == "PUT" and "partNumber=" in request.url and response and \
                response.status == 200:
            done.append(request.url)

    page.on("requestfinished", finished)
    return done


def test_a_clinician_uploads_a_pair_and_sees_it_verified(chromium, portal, big_fastq_pair):
    context, page = signed_in_page(chromium, portal, upload_bytes_per_second=40 * MB)
    puts = part_puts(page)
    fill_sample_form(page, portal, big_fastq_pair)
    screenshot(page, "upload-form-filled")
    page.click("button[type=submit]")

    progress = page.locator("[data-upload-progress]")
    page.wait_for_function(
        "() => Number(document.querySelector('[data-overall]')?.dataset.percent || 0) >= 20")
    assert progress.get_attribute("data-state") == "uploading"
    assert page.locator("[data-file-row='1']").is_visible()
    page.wait_for_function(r"""() => /\d+(\.\d+)? MiB\/s · .+ left/.test(
        document.querySelector('[data-overall] [data-figures]').textContent)""")
    overall = page.locator("[data-overall] [data-figures]").inner_text()
    assert re.search(r"[\d.]+ MiB of 10[01]\.\d MiB sent · ([\d.]+ MiB|0 bytes) kept · [\d.]+ MiB/s · \S+.* left",
                     overall), overall
    assert page.locator("button[type=submit]").is_disabled()
    screenshot(page, "upload-in-progress")

    page.wait_for_url(re.compile(r".*/labs/lab-a/samples/[0-9a-f-]+/$"), timeout=120_000)
    page.wait_for_selector("[data-sample-status='ready']", timeout=60_000)
    screenshot(page, "upload-verified-ready")

    sample = Sample.objects.get()
    assert sample.status == "ready"
    r1, r2 = sample.files.order_by("read")
    assert r1.sha256 == r1.client_sha256 and r1.read_count == r2.read_count > 100_000
    assert len(puts) == r1.part_count + r2.part_count, "each part is sent once"
    assert all(url.startswith(portal.url) is False for url in puts), "bytes go straight to S3"
    context.close()


def test_a_dropped_network_and_a_reload_resume_instead_of_starting_over(chromium, portal,
                                                                        big_fastq_pair):
    context, page = signed_in_page(chromium, portal, upload_bytes_per_second=20 * MB)
    puts, stored = part_puts(page), stored_parts(page)
    fill_sample_form(page, portal, big_fastq_pair, name="NA12879")
    page.click("button[type=submit]")
    page.wait_for_function(
        "() => Number(document.querySelector('[data-overall]')?.dataset.percent || 0) >= 15")

    # The network drops for a few seconds: the uploader waits and carries on.
    context.set_offline(True)
    page.wait_for_timeout(3000)
    screenshot(page, "upload-network-dropped")
    context.set_offline(False)
    page.wait_for_function(
        "() => Number(document.querySelector('[data-overall]')?.dataset.percent || 0) >= 40",
        timeout=60_000)

    # Then the page is reloaded mid-upload, once S3 holds at least one part (by 40% of the bytes
    # six parallel parts may all still be in flight): it lands on the sample page, which resumes.
    for _ in range(300):
        if stored:
            break
        page.wait_for_timeout(100)
    stored_before_reload = len(stored)
    assert stored_before_reload >= 1
    sent_before_reload = len(puts)
    page.reload()
    assert re.search(r"/labs/lab-a/samples/[0-9a-f-]+/$", page.url)
    sample = Sample.objects.get(name="NA12879")
    assert sample.status == "uploading"
    offered = [read for read in (1, 2) if page.locator(f"#resume-r{read}").count()]
    unfinished = [f.read for f in sample.files.all() if f.status != "uploaded"]
    assert offered == unfinished and offered, "only unfinished files are asked for again"
    for read in offered:
        page.set_input_files(f"#resume-r{read}", str(big_fastq_pair[read - 1]))
    screenshot(page, "upload-resume-form")
    page.click("text=Resume upload")
    page.wait_for_selector("[data-sample-status='ready']", timeout=120_000)
    screenshot(page, "upload-resumed-ready")

    sample.refresh_from_db()
    total_parts = sum(f.part_count for f in sample.files.all())
    sent_after_reload = len(puts) - sent_before_reload
    assert sample.status == "ready"
    assert sent_after_reload <= total_parts - stored_before_reload, \
        "parts already stored were not sent again"
    context.close()


def part_of(url: str) -> tuple[str, int]:
    """(object path, part number) of a part PUT."""
    path, _, query = url.partition("?")
    return path, int(re.search(r"partNumber=(\d+)", query).group(1))


def test_a_reload_sends_again_at_most_the_parts_in_flight(chromium, portal, big_fastq_pair):
    """The stated bound: a reload loses only the parts in flight, at most 6 x the part size; a
    50 MB file has 5 MiB parts (size / 24, at least 5 MiB), so at most 30 MiB, and what the bar
    called kept is what S3 holds."""
    size = big_fastq_pair[0].stat().st_size
    part_size = choose_part_size(size)
    bound = reload_loss_bound(part_size)
    assert part_size == 5 * MB and bound == 30 * MB

    context, page = signed_in_page(chromium, portal, upload_bytes_per_second=8 * MB)
    puts, stored = part_puts(page), stored_parts(page)
    fill_sample_form(page, portal, big_fastq_pair, name="NA12880")
    page.click("button[type=submit]")
    page.wait_for_selector("[data-reload-bound]:not([hidden])")
    assert "at most 30.0 MiB" in page.inner_text("[data-reload-bound]")
    # Mid-upload, once the bar says some bytes are kept: reload.
    page.wait_for_function("""() => {
        const o = document.querySelector('[data-overall]')
        return o && Number(o.dataset.keptBytes) > 0 && Number(o.dataset.percent) >= 30 }""",
                           timeout=60_000)
    screenshot(page, "upload-kept-and-in-flight")
    shown_kept = int(page.get_attribute("[data-overall]", "data-kept-bytes"))
    sent_before = {part_of(url) for url in puts}
    page.reload()

    def part_bytes(f, n):
        return min(f.part_size, f.size - (n - 1) * f.part_size)

    sample = Sample.objects.get(name="NA12880")
    files = list(sample.files.order_by("read"))
    assert all(f.part_size == part_size for f in files)
    held = {}
    for f in files:
        if f.status == "uploading":
            for p in multipart.list_uploaded_parts(bucket_name("raw"), f.key, f.multipart_upload_id):
                held[(f.key, p["PartNumber"])] = p["Size"]
        else:
            held.update({(f.key, n): part_bytes(f, n) for n in range(1, f.part_count + 1)})
    assert stored and sum(held.values()) >= shown_kept, "kept means S3 holds it"

    offered = [read for read in (1, 2) if page.locator(f"#resume-r{read}").count()]
    for read in offered:
        page.set_input_files(f"#resume-r{read}", str(big_fastq_pair[read - 1]))
    before_resume = len(puts)
    page.click("text=Resume upload")
    page.wait_for_function("() => Number(document.querySelector('[data-overall]')"
                           "?.dataset.keptBytes || 0) > 0")
    screenshot(page, "upload-resumed-kept")
    try:
        page.wait_for_selector("[data-sample-status='ready']", timeout=120_000)
    except PlaywrightTimeout:   # say what the page says (once seen: a refused completion, 400)
        screenshot(page, "upload-resumed-not-ready")
        raise AssertionError(page.inner_text("body")[-3000:]) from None

    by_path = {path: f for path, _ in sent_before for f in files if path.endswith(f.key)}
    again = {part_of(url) for url in puts[before_resume:]} & sent_before
    resent = sum(part_bytes(by_path[path], n) for path, n in again)
    assert len(again) <= 6 and resent <= bound, (again, resent)
    assert not {(by_path[path].key, n) for path, n in again} & set(held), \
        "no part S3 held was sent again"
    for f, path in zip(files, big_fastq_pair):
        f.refresh_from_db()
        body = s3.open_object(bucket_name("raw"), f.key)
        assert sha256_chunks(iter(lambda: body.read(8 * MB), b"")) == sha256_file(path)
    context.close()


def test_a_sample_sheet_uploads_every_pair(chromium, portal, tmp_path):
    from tests.fastq_data import write_fastq_pair

    paths = [p for name in ("SHEET1", "SHEET2") for p in write_fastq_pair(tmp_path, name,
                                                                          reads=5000)]
    sheet = tmp_path / "sheet.csv"
    sheet.write_text("sample_name,identifier,sex,clinical_indication,hpo_terms,r1,r2\n"
                     "SHEET1,PSN-11,female,Seizures,HP:0001250,SHEET1_R1.fastq.gz,SHEET1_R2.fastq.gz\n"
                     "SHEET2,PSN-12,male,Hypotonia,,SHEET2_R1.fastq.gz,SHEET2_R2.fastq.gz\n")
    context, page = signed_in_page(chromium, portal)
    page.goto(portal.url + "/labs/lab-a/samples/sheet/")

    # A file the sheet does not name: the row problems are listed, nothing is uploaded.
    page.set_input_files("input[name=sheet]", str(sheet))
    page.set_input_files("input[name=fastqs]", [str(p) for p in paths[:3]])
    page.check("input[name=consent]")
    page.click("button[type=submit]")
    page.wait_for_selector("[data-row-errors] li")
    assert "SHEET2_R2.fastq.gz is not among the chosen files" in page.inner_text("[data-row-errors]")
    screenshot(page, "sheet-row-errors")
    assert not Sample.objects.exists()

    page.set_input_files("input[name=fastqs]", [str(p) for p in paths])
    page.click("button[type=submit]")
    page.wait_for_function("() => document.querySelectorAll('td .status-ready').length === 2",
                           timeout=60_000)
    assert sorted(Sample.objects.values_list("name", "status")) == [("SHEET1", "ready"),
                                                                    ("SHEET2", "ready")]
    assert "2 samples were uploaded and are being verified." in page.inner_text(".messages")
    screenshot(page, "sheet-uploaded-list")
    context.close()


def test_without_javascript_a_field_error_keeps_the_files(chromium, portal_queued, tmp_path):
    """No JavaScript: a bad sample name sends the form back with both files kept ("received"),
    the corrected form is sent without choosing them again, and the sample page does not claim
    to update by itself (it offers a Reload link instead)."""
    from tests.fastq_data import write_fastq_pair

    pair = write_fastq_pair(tmp_path, "NOJS1", reads=5000)
    context, page = signed_in_page(chromium, portal_queued, javascript=False)
    fill_sample_form(page, portal_queued, pair, name="NOJS 1")
    page.fill("input[name=external_id]", "Jane Doe")
    page.click("button[type=submit]")
    page.wait_for_selector("[data-received='2']")
    assert "Use 1-64 letters" in page.inner_text("[data-error-for=name]")
    assert "pseudonymous identifier" in page.inner_text("[data-error-for=external_id]")
    for read, path in zip((1, 2), pair):
        kept = page.inner_text(f"[data-received='{read}']")
        assert re.search(rf"{path.name} received, [\d.]+\s(KiB|MiB)", kept), kept
    screenshot(page, "nojs-field-error-files-kept")
    assert not Sample.objects.exists()

    page.fill("input[name=name]", "NOJS1")
    page.fill("input[name=external_id]", "PSN-0099")
    page.click("button[type=submit]")  # the file inputs are left empty
    page.wait_for_url(re.compile(r".*/labs/lab-a/samples/[0-9a-f-]+/$"))
    page.wait_for_selector("[data-sample-status='verifying']")
    screenshot(page, "nojs-sample-stored-verifying")
    body = page.inner_text("body")
    assert "updates by itself" not in body and "Reload to see whether it is done" in body
    assert page.locator("[data-reload]").is_visible()

    sample = Sample.objects.get(name="NOJS1")
    assert sample.external_id == "PSN-0099"
    for f, path in zip(sample.files.order_by("read"), pair):
        assert f.status == "uploaded" and f.original_name == path.name
        body_ = s3.open_object(bucket_name("raw"), f.key)
        assert sha256_chunks(iter(lambda: body_.read(MB), b"")) == sha256_file(path) \
            == f.client_sha256
    context.close()

    # With JavaScript the same page says it updates by itself.
    context, page = signed_in_page(chromium, portal_queued)
    page.goto(portal_queued.url + f"/labs/lab-a/samples/{sample.pk}/")
    assert "updates by itself" in page.inner_text("[data-updates-itself]")
    assert not page.locator("[data-reload]").is_visible()
    context.close()


def test_an_upload_stopped_by_an_ended_session_greys_its_bars(chromium, portal, big_fastq_pair):
    """The session ends mid-upload (signed out elsewhere): the parts can no longer be signed, the
    rows say "stopped" and their bars are greyed, not left blue as if they were done."""
    context, page = signed_in_page(chromium, portal, upload_bytes_per_second=10 * MB)
    fill_sample_form(page, portal, big_fastq_pair, name="NA12880")
    page.click("button[type=submit]")
    page.wait_for_function(
        "() => Number(document.querySelector('[data-overall]')?.dataset.percent || 0) >= 5")
    context.clear_cookies()
    page.wait_for_selector("[data-overall] .upload-bar.upload-bar-stopped", timeout=90_000)
    assert "stopped" in page.inner_text("[data-overall] [data-figures]")
    grey = page.eval_on_selector("[data-overall] .upload-bar-kept",
                                 "el => getComputedStyle(el).backgroundColor")
    assert grey == "rgb(154, 163, 173)"
    screenshot(page, "upload-stopped-greyed")
    context.close()
