"""The direct-to-S3 upload API against the real S3 server, driven as the browser drives it."""

import json
import uuid

import pytest

from jobs.models import FileStatus, Sample
from tests.upload_client import UploadFailed, file_sha256, sample_fields, write_random_file
from storage import multipart, s3
from storage.buckets import bucket_name
from tenants import audit_actions
from tenants.models import AuditEvent

pytestmark = pytest.mark.usefixtures("provisioned_s3")
MIB = 1024 * 1024
MIN_PART_SIZE = 5 * MIB  # S3's minimum, so that small files still have several parts


@pytest.fixture(autouse=True)
def small_parts(settings):
    settings.UPLOAD_MIN_PART_BYTES = MIN_PART_SIZE


@pytest.fixture
def big_pair(tmp_path):
    """Two files of 2.5 parts each (content does not matter until verification)."""
    size = MIN_PART_SIZE * 2 + MIN_PART_SIZE // 2
    return (write_random_file(tmp_path / "S1_R1.fastq.gz", size),
            write_random_file(tmp_path / "S1_R2.fastq.gz", size + 7))


def test_it_creates_the_sample_and_its_keys_under_the_lab(uploader_for, clinician, big_pair):
    created = uploader_for(clinician).create_sample(sample_fields(), *big_pair)
    sample = Sample.objects.get(pk=created["sample"]["id"])
    assert (sample.lab, sample.status, sample.hpo_terms) == (clinician.lab, "uploading",
                                                            ["HP:0001250"])
    r1, r2 = sample.files.order_by("read")
    assert r1.key == f"{clinician.lab.pk}/{sample.job_id}/S1_R1.fastq.gz"
    assert r2.key.endswith("/S1_R2.fastq.gz") and r2.size == big_pair[1].stat().st_size
    assert [f["read"] for f in created["files"]] == [1, 2]
    assert str(sample.job_id) not in json.dumps(created["files"]), "keys stay on the server"


def test_it_uploads_parts_straight_to_storage_and_completes(uploader_for, clinician, big_pair,
                                                            django_capture_on_commit_callbacks):
    uploader = uploader_for(clinician)
    created = uploader.create_sample(sample_fields(), *big_pair)
    with django_capture_on_commit_callbacks() as callbacks:
        for info, path in zip(created["files"], big_pair):
            status, answer = uploader.upload(info, path)
            assert status == 200, answer
    assert answer == {"file_status": "uploaded", "sample_status": "verifying"}
    assert len(callbacks) == 1, "verification is queued once, when both files are in"
    sample = Sample.objects.get(pk=created["sample"]["id"])
    for f, path in zip(sample.files.order_by("read"), big_pair):
        assert f.status == FileStatus.UPLOADED and f.client_sha256 == file_sha256(path)
        body = s3.open_object(bucket_name("raw"), f.key)
        assert body.read() == path.read_bytes()
    events = AuditEvent.objects.filter(lab=clinician.lab, details__sample=str(sample.pk))
    assert list(events.values_list("action", flat=True)) == [
        audit_actions.SAMPLE_CREATED, audit_actions.UPLOAD_STARTED, audit_actions.UPLOAD_COMPLETED,
        audit_actions.UPLOAD_STARTED, audit_actions.UPLOAD_COMPLETED]
    completed = events.filter(action=audit_actions.UPLOAD_COMPLETED).first()
    assert completed.details["sha256"] == file_sha256(big_pair[0])


def test_it_resumes_from_the_parts_already_stored(uploader_for, clinician, big_pair):
    uploader = uploader_for(clinician)
    created = uploader.create_sample(sample_fields(), *big_pair)
    r1_info = created["files"][0]
    uploader.upload(r1_info, big_pair[0], only_parts={1, 2})  # then the network drops

    resumed = uploader.start(r1_info, big_pair[0])
    assert [p["PartNumber"] for p in resumed["parts"]] == [1, 2]
    status, answer = uploader.upload(r1_info, big_pair[0])
    assert status == 200, answer
    assert AuditEvent.objects.filter(action=audit_actions.UPLOAD_RESUMED).exists()
    f = Sample.objects.get(pk=created["sample"]["id"]).file(1)
    assert s3.open_object(bucket_name("raw"), f.key).read() == big_pair[0].read_bytes()


def test_a_stored_part_of_the_wrong_length_is_not_offered_as_done(uploader_for, clinician,
                                                                 big_pair):
    """A part listed mid-write (a reload racing its PUT) or cut short is sent again on resume,
    instead of being skipped by the client and refusing the completion."""
    uploader = uploader_for(clinician)
    info = uploader.create_sample(sample_fields(), *big_pair)["files"][0]
    uploader.upload(info, big_pair[0], only_parts={1})
    f = Sample.objects.get().file(1)
    s3.client().upload_part(Bucket=bucket_name("raw"), Key=f.key, UploadId=f.multipart_upload_id,
                            PartNumber=2, Body=b"cut short")
    assert sorted(p["PartNumber"] for p in multipart.list_uploaded_parts(
        bucket_name("raw"), f.key, f.multipart_upload_id)) == [1, 2]

    assert [p["PartNumber"] for p in uploader.start(info, big_pair[0])["parts"]] == [1]
    status, answer = uploader.portal.get_json(info["upload_url"] + "parts/")
    assert status == 200 and [p["PartNumber"] for p in answer["parts"]] == [1]
    status, answer = uploader.upload(info, big_pair[0])
    assert status == 200, answer
    assert s3.open_object(bucket_name("raw"), f.key).read() == big_pair[0].read_bytes()


def test_it_cancels_an_upload_and_can_start_it_again(uploader_for, clinician, big_pair):
    uploader = uploader_for(clinician)
    created = uploader.create_sample(sample_fields(), *big_pair)
    info = created["files"][0]
    uploader.upload(info, big_pair[0], only_parts={1})
    status, answer = uploader.portal.delete_json(info["upload_url"])
    assert (status, answer) == (200, {"file_status": "cancelled"})
    assert multipart.list_unfinished_uploads(bucket_name("raw")) == []
    assert uploader.start(info, big_pair[0])["parts"] == []
    status, _answer = uploader.upload(info, big_pair[0])
    assert status == 200


def errors_of(answer) -> str:
    return " ".join(m for messages in answer["errors"].values() for m in messages)


@pytest.fixture
def started(uploader_for, clinician, big_pair):
    uploader = uploader_for(clinician)
    created = uploader.create_sample(sample_fields(), *big_pair)
    info = created["files"][0]
    session = uploader.start(info, big_pair[0])
    return uploader, info, session


@pytest.mark.parametrize("part", [0, 4, 10001])
def test_it_refuses_part_numbers_out_of_range(started, part):
    uploader, info, session = started
    status, answer = uploader.portal.post_json(f"{info['upload_url']}parts/{part}/", {})
    assert status == 400 and session["part_count"] == 3
    assert f"Part {part} is out of range: R1 has parts 1 to 3." in errors_of(answer)


def test_it_refuses_to_complete_twice(started, big_pair):
    uploader, info, _session = started
    assert uploader.upload(info, big_pair[0])[0] == 200
    stored = s3.open_object(bucket_name("raw"), Sample.objects.get().file(1).key).read()
    with pytest.raises(UploadFailed) as refused:
        uploader.upload(info, big_pair[0])
    assert refused.value.status == 409
    assert refused.value.answer["errors"]["__all__"] == ["R1 is already uploaded."]
    status, answer = uploader.portal.post_json(f"{info['upload_url']}complete/",
                                               {"parts": [], "sha256": "0" * 64})
    assert status == 409 and "no upload in progress" in errors_of(answer)
    assert s3.open_object(bucket_name("raw"), Sample.objects.get().file(1).key).read() == stored


def test_it_refuses_to_complete_with_a_part_missing(started, big_pair):
    uploader, info, _session = started
    parts = [uploader.put_part(info, big_pair[0], n, MIN_PART_SIZE) for n in (1, 3)]
    status, answer = uploader.portal.post_json(f"{info['upload_url']}complete/",
                                               {"parts": parts, "sha256": "a" * 64})
    assert status == 400
    assert "R1 is incomplete: part(s) 2 of 3 have not reached storage" in errors_of(answer)
    # Nothing was lost: the upload is still open and the stored parts are still there.
    assert [p["PartNumber"] for p in uploader.start(info, big_pair[0])["parts"]] == [1, 3]


def test_it_refuses_parts_the_browser_did_not_send(started, big_pair):
    uploader, info, _session = started
    parts = [uploader.put_part(info, big_pair[0], n, MIN_PART_SIZE) for n in (1, 2, 3)]
    parts[1]["ETag"] = '"0123456789abcdef0123456789abcdef"'
    status, answer = uploader.portal.post_json(f"{info['upload_url']}complete/",
                                               {"parts": parts, "sha256": "a" * 64})
    assert status == 400 and "Part 2 of R1 in storage is not the part your browser sent" in \
        errors_of(answer)
    assert multipart.list_unfinished_uploads(bucket_name("raw")) == [], "ended at once"


@pytest.mark.parametrize("body,message", [
    ({"parts": "all", "sha256": "a" * 64}, "Send the uploaded parts as a list"),
    ({"parts": [], "sha256": "not-a-digest"}, "SHA-256 must be 64 hexadecimal characters"),
    ({"parts": []}, "SHA-256 must be 64 hexadecimal characters"),
])
def test_it_explains_malformed_completions(started, body, message):
    uploader, info, _session = started
    status, answer = uploader.portal.post_json(f"{info['upload_url']}complete/", body)
    assert status == 400 and message in errors_of(answer)


def test_it_explains_a_body_that_is_not_json(started):
    uploader, info, _session = started
    response = uploader.portal.client.post(f"{info['upload_url']}complete/", "{not json",
                                           content_type="application/json")
    assert response.status_code == 400
    assert "not valid JSON" in errors_of(response.json())


def test_it_refuses_a_different_file_when_resuming(started, tmp_path):
    uploader, info, _session = started
    status, answer = uploader.portal.post_json(info["upload_url"], {"name": "S1_R1.fastq.gz",
                                                                    "size": 12345})
    assert status == 400
    assert "This is not the file you started uploading as R1: expected S1_R1.fastq.gz" in \
        errors_of(answer)


def test_it_hides_uploads_from_another_lab(started, uploader_for, outsider):
    _uploader, info, _session = started
    stranger = uploader_for(outsider, lab_slug="lab-b")
    # Through lab A's URL (not a member) and through the outsider's own lab's URL.
    own_lab_url = info["upload_url"].replace("/labs/lab-a/", "/labs/lab-b/")
    for url in (info["upload_url"], own_lab_url):
        assert stranger.portal.post_json(f"{url}parts/1/", {})[0] == 404
        assert stranger.portal.post_json(url, {"name": "x.fastq.gz", "size": 1})[0] == 404
        assert stranger.portal.post_json(f"{url}complete/", {"parts": []})[0] == 404
        assert stranger.portal.delete_json(url)[0] == 404
        assert stranger.portal.get_json(f"{url}parts/")[0] == 404


def test_it_answers_404_for_a_file_of_another_sample(started, uploader_for, clinician, tmp_path):
    uploader, info, _session = started
    other = uploader.create_sample(sample_fields("S2"),
                                   write_random_file(tmp_path / "S2_R1.fastq.gz", 10),
                                   write_random_file(tmp_path / "S2_R2.fastq.gz", 10))
    mixed = info["upload_url"].replace(str(Sample.objects.get(name="S1").pk),
                                       other["sample"]["id"])
    assert uploader.portal.post_json(f"{mixed}parts/1/", {})[0] == 404
    assert uploader.portal.post_json(f"/labs/lab-a/samples/{uuid.uuid4()}/files/"
                                     f"{info['id']}/upload/parts/1/", {})[0] == 404


def test_it_needs_the_csrf_token(clinician, big_pair, provisioned_s3):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(clinician.user)
    response = client.post("/labs/lab-a/samples/new/", sample_fields(), HTTP_ACCEPT="application/json")
    assert response.status_code == 403


def test_it_explains_a_storage_server_that_is_down(started, storage_down):
    uploader, info, _session = started
    status, answer = uploader.portal.post_json(f"{info['upload_url']}parts/1/", {})
    # Signing needs no network, so it still works; listing the stored parts does not.
    assert status == 200
    status, answer = uploader.portal.get_json(f"{info['upload_url']}parts/")
    assert status == 503 and "Storage is unavailable: cannot reach the S3 server" in \
        errors_of(answer)


def test_it_sends_an_anonymous_caller_to_sign_in(client, started):
    _uploader, info, _session = started
    client.logout()
    response = client.post(f"{info['upload_url']}parts/1/")
    assert response.status_code == 302 and "/accounts/login/" in response.url


def test_part_sizes_bound_what_a_reload_loses(settings):
    """A reload loses at most the parts in flight, 6 x part size: a quarter of a small file (parts
    of size/24, at least 5 MiB), 96 MiB from 384 MiB up, 0.6% of a file beyond ~15.6 GiB."""
    from jobs.intake.uploads import choose_part_size, reload_loss_bound

    settings.UPLOAD_MIN_PART_BYTES = 16 * MIB
    cases = {50 * 10**6: 5 * MIB, 200 * MIB: 9 * MIB, 384 * MIB: 16 * MIB, 1024**3: 16 * MIB,
             10 * 1024**3: 16 * MIB, 40 * 1024**3: 41 * MIB}
    for size, part in cases.items():
        assert choose_part_size(size) == part, size
        bound = reload_loss_bound(part)
        assert bound <= max(size // 4 + 6 * MIB, 30 * MIB) and bound <= max(96 * MIB, size * 0.0062)
        assert -(-size // part) <= 1000


def test_the_bound_counts_the_parts_the_browser_really_sends_at_once():
    import re
    from pathlib import Path

    from jobs.intake.uploads import UPLOAD_CONCURRENCY

    source = (Path(__file__).resolve().parents[3] / "frontend/src/uploader.js").read_text()
    assert re.search(r"export const CONCURRENCY = (\d+)", source).group(1) == \
        str(UPLOAD_CONCURRENCY)


def _sign(uploader, info, part: int) -> dict:
    status, signed = uploader.portal.post_json(f"{info['upload_url']}parts/{part}/", {})
    assert status == 200, signed
    return signed


def test_storage_itself_refuses_a_part_longer_or_shorter_than_signed(started, big_pair):
    """Issue 14.1: the part URL signs the part's length, so S3 refuses any other body."""
    uploader, info, session = started
    f = Sample.objects.get().file(1)
    signed = _sign(uploader, info, 1)
    for body in (b"x" * (MIN_PART_SIZE + 1), b"x" * (3 * MIN_PART_SIZE), b"x" * (MIN_PART_SIZE - 1)):
        refused = uploader.session.put(signed["url"], data=body, timeout=60)
        assert refused.status_code == 403 and "SignatureDoesNotMatch" in refused.text
    assert multipart.list_uploaded_parts(bucket_name("raw"), f.key, session["upload_id"]) == []
    assert "content-length" in multipart.signed_headers(signed["url"])
    assert signed["size"] == MIN_PART_SIZE
    # The last part is signed with its own, shorter length.
    last = _sign(uploader, info, 3)
    assert last["size"] == f.size - 2 * MIN_PART_SIZE
    assert uploader.session.put(last["url"], data=b"x" * MIN_PART_SIZE, timeout=60
                                ).status_code == 403
    assert multipart.list_uploaded_parts(bucket_name("raw"), f.key, session["upload_id"]) == []
    # The exact lengths go through, and the upload completes.
    status, answer = uploader.upload(info, big_pair[0])
    assert status == 200, answer


def _live_ledger(key):
    from storage.models import StoredObject
    return list(StoredObject.objects.filter(key=key, deleted_at__isnull=True)
                .values_list("size", flat=True))


def test_an_upload_in_progress_is_counted_until_it_ends(uploader_for, clinician, big_pair):
    uploader = uploader_for(clinician)
    created = uploader.create_sample(sample_fields(), *big_pair)
    r1, r2 = created["files"]
    f1 = Sample.objects.get().file(1)
    assert _live_ledger(f1.key) == []
    uploader.upload(r1, big_pair[0], only_parts={1})
    assert _live_ledger(f1.key) == [f1.size], "the most its parts can hold, from the start"
    uploader.portal.delete_json(r1["upload_url"])
    assert _live_ledger(f1.key) == []
    status, _answer = uploader.upload(r1, big_pair[0])
    assert status == 200 and _live_ledger(f1.key) == [f1.size]


def test_a_refused_completion_aborts_the_upload_at_once(started, big_pair):
    """A part of the wrong size (sent with a URL signed before lengths were) ends the upload:
    its parts leave storage now, not at the daily sweep, and its ledger row closes."""
    uploader, info, session = started
    f = Sample.objects.get().file(1)
    raw = bucket_name("raw")
    parts = [uploader.put_part(info, big_pair[0], n, MIN_PART_SIZE) for n in (1, 3)]
    answer = s3.client().upload_part(Bucket=raw, Key=f.key, UploadId=session["upload_id"],
                                     PartNumber=2, Body=b"x" * (MIN_PART_SIZE * 2))
    parts.append({"PartNumber": 2, "ETag": answer["ETag"]})
    status, answer = uploader.portal.post_json(f"{info['upload_url']}complete/",
                                               {"parts": parts, "sha256": "a" * 64})
    assert status == 400
    assert errors_of(answer) == (
        f"Part 2 of R1 is {2 * MIN_PART_SIZE:,} bytes in storage; expected {MIN_PART_SIZE:,}. "
        "The upload was stopped and its parts removed from storage; upload the file again.")
    assert multipart.list_unfinished_uploads(raw) == []
    f.refresh_from_db()
    assert (f.status, f.multipart_upload_id) == (FileStatus.CANCELLED, "")
    assert _live_ledger(f.key) == []
    event = AuditEvent.objects.filter(action=audit_actions.UPLOAD_CANCELLED).get()
    assert event.details["reason"] == "refused"
    status, _answer = uploader.upload(info, big_pair[0])
    assert status == 200, "the file can be sent again"


def test_the_sweep_closes_the_ledger_row_of_an_upload_it_aborts(started):
    from datetime import timedelta

    from django.utils import timezone

    from jobs.intake.uploads import intake_sweep

    _uploader, _info, _session = started
    f = Sample.objects.get().file(1)
    assert _live_ledger(f.key) == [f.size]
    assert intake_sweep(now=timezone.now() + timedelta(days=2))["aborted_uploads"] == 1
    f.refresh_from_db()
    assert f.status == FileStatus.CANCELLED and _live_ledger(f.key) == []


def test_a_signed_out_uploader_gets_401_with_the_reason_not_the_sign_in_page(started):
    """The session ended mid-upload: a fetch would follow a redirect to the sign-in page and
    take its HTML for an answer; the JSON API says why instead. Pages still redirect."""
    from django.test import Client

    _uploader, info, _session = started
    client = Client()
    response = client.post(info["upload_url"] + "parts/1/", HTTP_ACCEPT="application/json")
    assert response.status_code == 401
    assert response.json() == {"errors": {"__all__": [
        "You are signed out (your session ended). Sign in again in another tab, then retry."]}}
    page = client.get(info["upload_url"].split("files/")[0])
    assert page.status_code == 302 and page.url.startswith("/accounts/login/?next=")
