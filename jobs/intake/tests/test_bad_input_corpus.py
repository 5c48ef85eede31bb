"""Hostile and careless input across every upload path (issue 14): the JSON "new sample" form, the
form without JavaScript (file names exactly as a browser or a script could send them), the sample
sheet on both paths, and the direct upload API. Each input gets the status and the sentence it
must get, never a 500, and nothing already stored changes: the raw bucket's objects and
unfinished uploads, and the Sample, SampleFile and ledger rows are compared before and after.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field

import pytest

from jobs.models import Sample, SampleFile
from storage import multipart as multipart_uploads, s3
from storage.buckets import bucket_name
from storage.models import StoredObject
from tests.fastq_data import write_fastq_pair
from tests.upload_client import sample_fields

pytestmark = pytest.mark.usefixtures("provisioned_s3")

NEW = "/labs/lab-a/samples/new/"
SHEET = "/labs/lab-a/samples/sheet/"
HEADER = "sample_name,identifier,sex,clinical_indication,hpo_terms,r1,r2\n"
GZ = b"\x1f\x8b\x08\x00" + b"\x00" * 60          # a gzip header; contents do not matter here
NAME_RULE = "no two dots in a row"
CONTROL = "invisible control or direction characters; rename the file."
PATH = "The file name must not contain a path; rename the file."
LONG_NAME = "x" * 291 + ".fastq.gz"               # 300 characters


def multipart(fields: dict, files: list[tuple[str, str, bytes]]) -> tuple[bytes, str]:
    """A multipart body written by hand, so a file name reaches the server exactly as given
    (Django's test client would keep only its base name)."""
    boundary = uuid.uuid4().hex
    out = b""
    for name, value in fields.items():
        out += (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                f"{value}\r\n").encode()
    for field_name, file_name, body in files:
        out += (f'--{boundary}\r\nContent-Disposition: form-data; name="{field_name}"; '
                f'filename="{file_name}"\r\nContent-Type: application/gzip\r\n\r\n'
                ).encode("utf-8") + body + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return out, f"multipart/form-data; boundary={boundary}"


@dataclass
class Case:
    id: str
    path: str                      # json | form | sheet-json | sheet-form | upload-api
    request: dict
    status: int
    message: str
    keeps_received: bool = False   # the form keeps files that passed their own checks
    extra: dict = field(default_factory=dict)


def json_new(**overrides) -> dict:
    data = {**sample_fields("NEW1"), "r1_name": "NEW1_R1.fastq.gz", "r1_size": 1000,
            "r2_name": "NEW1_R2.fastq.gz", "r2_size": 1000, **overrides}
    return {k: v for k, v in data.items() if v is not None}


def form_new(r1_name="NEW1_R1.fastq.gz", r2_name="NEW1_R2.fastq.gz", **overrides) -> dict:
    return {"fields": {**sample_fields("NEW1"), **overrides},
            "files": [("r1", r1_name, GZ), ("r2", r2_name, GZ + b"2")]}


def sheet(rows: str, chosen=None) -> dict:
    chosen = chosen if chosen is not None else [
        {"name": n, "size": 1000} for n in ("A_R1.fastq.gz", "A_R2.fastq.gz")]
    return {"text": HEADER + rows, "chosen": chosen}


GOOD_ROW = "A,PSN-A,female,Seizures,,A_R1.fastq.gz,A_R2.fastq.gz\n"

CASES = [
    # The JSON "new sample" form (the uploader's first call)
    Case("json-name-dotdot", "json", json_new(name="S..1"), 400, NAME_RULE),
    Case("json-name-only-dots", "json", json_new(name=".."), 400, NAME_RULE),
    Case("json-name-traversal", "json", json_new(name="../S1"), 400, NAME_RULE),
    Case("json-name-confusable", "json", json_new(name="S1\u0430"), 400, NAME_RULE),
    Case("json-name-sql", "json", json_new(name="S1'; DROP TABLE jobs_sample;--"), 400,
         NAME_RULE),
    Case("json-name-empty", "json", json_new(name=""), 400, "This field is required."),
    Case("json-file-traversal", "json", json_new(r1_name="../../x_R1.fastq.gz"), 400, PATH),
    Case("json-file-nul", "json", json_new(r1_name="S1_R1\x00.fastq.gz"), 400, CONTROL),
    Case("json-file-rtl", "json", json_new(r1_name="S1_R1\u202egz.qtsaf.fastq.gz"), 400,
         CONTROL),
    Case("json-file-300", "json", json_new(r1_name=LONG_NAME), 400,
         "The file name is 300 characters long; rename the file to at most 255."),
    Case("json-file-empty", "json", json_new(r1_name=""), 400, "Choose a file."),
    Case("json-file-blank", "json", json_new(r1_name="   "), 400, "Choose a file."),
    Case("json-file-extension", "json", json_new(r2_name="NEW1_R2.bam"), 400,
         "Choose a gzip-compressed FASTQ file ending in .fastq.gz or .fq.gz."),
    Case("json-r1-is-r2", "json", json_new(r2_name="NEW1_R1.fastq.gz"), 400,
         "R1 and R2 are the same file; choose the two files of the pair."),
    Case("json-size-zero", "json", json_new(r1_size=0), 400, "The file is empty."),
    Case("json-size-negative", "json", json_new(r1_size=-1), 400,
         "The file size must be a number of bytes, not negative."),
    Case("json-size-over-max", "json", json_new(r1_size=60 * 1024**3), 400, "the limit is 50"),
    Case("json-id-formula", "json", json_new(external_id="=HYPERLINK(\"http://x\")"), 400,
         "Use the lab's pseudonymous identifier"),
    Case("json-id-long", "json", json_new(external_id="P" * 500), 400,
         "Ensure this value has at most 64 characters (it has 500)."),
    Case("json-hpo-script", "json", json_new(hpo_terms="<script>alert(1)</script>"), 400,
         "Not an HPO term: <script>alert(1)</script>."),
    # The form without JavaScript: file names as sent, never silently renamed
    Case("form-file-traversal", "form", form_new(r1_name="../../x_R1.fastq.gz"), 400, PATH,
         keeps_received=True),
    Case("form-file-nul", "form", form_new(r1_name="S1_R1\x00.fastq.gz"), 400, CONTROL,
         keeps_received=True),
    Case("form-file-rtl", "form", form_new(r2_name="S1_R2\u202egz.qtsaf.fastq.gz"), 400,
         CONTROL, keeps_received=True),
    Case("form-file-300", "form", form_new(r1_name=LONG_NAME), 400,
         "The file name is 300 characters long; rename the file to at most 255.",
         keeps_received=True),
    Case("form-file-dotdot", "form", form_new(r1_name=".."), 400, PATH, keeps_received=True),
    Case("form-file-extension", "form", form_new(r2_name="NEW1_R2.fastq"), 400,
         "ending in .fastq.gz or .fq.gz", keeps_received=True),
    Case("form-name-dotdot", "form", form_new(name="S..1"), 400, NAME_RULE,
         keeps_received=True),
    Case("form-r1-is-r2", "form", {"fields": sample_fields("NEW1"), "files": [
        ("r1", "NEW1_R1.fastq.gz", GZ), ("r2", "NEW1_R1.fastq.gz", GZ)]}, 400,
         "R1 and R2 are the same file", keeps_received=True),
    # The sample sheet, with JavaScript (files declared as JSON)...
    Case("sheet-json-dotdot", "sheet-json", sheet("S..1" + GOOD_ROW[1:]), 400,
         f"sample_name: Use 1-64 letters, digits, dots, hyphens and underscores, starting with "
         f"a letter or digit and with {NAME_RULE}."),
    Case("sheet-json-duplicate", "sheet-json", sheet(
        GOOD_ROW + "A,PSN-B,male,Hypotonia,,B_R1.fastq.gz,B_R2.fastq.gz\n",
        [{"name": f"{s}_R{r}.fastq.gz", "size": 1000} for s in "AB" for r in (1, 2)]), 400,
         "sample_name: A is also on row 2."),
    Case("sheet-json-not-chosen", "sheet-json", sheet(
        "A,PSN-A,female,Seizures,,A_R1.fastq.gz,Z_R2.fastq.gz\n"), 400,
         "r2: Z_R2.fastq.gz is not among the chosen files."),
    Case("sheet-json-formula-id", "sheet-json", sheet(
        "A,=cmd|' /C calc'!A0,female,Seizures,,A_R1.fastq.gz,A_R2.fastq.gz\n"), 400,
         "identifier: Use the lab's pseudonymous identifier"),
    Case("sheet-json-hostile-file", "sheet-json", sheet(
        "A,PSN-A,female,Seizures,,../../A_R1.fastq.gz,A_R2.fastq.gz\n",
        [{"name": "../../A_R1.fastq.gz", "size": 10}, {"name": "A_R2.fastq.gz", "size": 10}]),
         400, f"r1: {PATH}"),
    Case("sheet-json-files-garbage", "sheet-json", {"text": HEADER + GOOD_ROW,
                                                    "files_raw": "{not json"}, 400,
         "Send the chosen files as a JSON list of {name, size}."),
    Case("sheet-json-not-utf8", "sheet-json", {"raw": b"\xff\xfe\x00junk", "chosen": []}, 400,
         "The sample sheet is not UTF-8 text; save it as CSV (UTF-8)."),
    # ... and without (files in the request, named as sent)
    Case("sheet-form-dotdot", "sheet-form", {"text": HEADER + "S..1" + GOOD_ROW[1:], "files": [
        ("fastqs", "A_R1.fastq.gz", GZ), ("fastqs", "A_R2.fastq.gz", GZ + b"2")]}, 400,
         NAME_RULE),
    Case("sheet-form-rtl-file", "sheet-form", {
        "text": HEADER + "A,PSN-A,female,Seizures,,A\u202e_R1.fastq.gz,A_R2.fastq.gz\n",
        "files": [("fastqs", "A\u202e_R1.fastq.gz", GZ), ("fastqs", "A_R2.fastq.gz", GZ)]},
         400, CONTROL),
    Case("sheet-form-traversal-file", "sheet-form", {
        "text": HEADER + "A,PSN-A,female,Seizures,,../../A_R1.fastq.gz,A_R2.fastq.gz\n",
        "files": [("fastqs", "../../A_R1.fastq.gz", GZ), ("fastqs", "A_R2.fastq.gz", GZ)]},
         400, PATH),
    # The direct upload API, on a file whose upload is in progress
    Case("api-start-other-size", "upload-api", {"call": "start", "body": {
        "name": "BASE_R1.fastq.gz", "size": 4}}, 400,
         "This is not the file you started uploading as R1"),
    Case("api-start-size-text", "upload-api", {"call": "start", "body": {
        "name": "BASE_R1.fastq.gz", "size": "64"}}, 400,
         "Send the file's name (text) and size (an integer)."),
    Case("api-sign-part-0", "upload-api", {"call": "sign", "part": 0}, 400,
         "Part 0 is out of range: R1 has parts 1 to 1."),
    Case("api-complete-bad-sha", "upload-api", {"call": "complete", "body": {
        "parts": [], "sha256": "zz"}}, 400, "The file's SHA-256 must be 64 hexadecimal"),
    Case("api-complete-not-json", "upload-api", {"call": "complete", "raw": b"\xff{"}, 400,
         "The request body is not valid JSON."),
    Case("api-complete-parts-text", "upload-api", {"call": "complete", "body": {
        "parts": "all", "sha256": "a" * 64}}, 400,
         "Send the uploaded parts as a list of {PartNumber, ETag}."),
    Case("api-complete-missing", "upload-api", {"call": "complete", "body": {
        "parts": [], "sha256": "a" * 64}}, 400,
         "R1 is incomplete: part(s) 1 of 1 have not reached storage."),
]


def stored_state() -> dict:
    raw = bucket_name("raw")
    return {
        "objects": {o["Key"]: (o["Size"], o["ETag"]) for page in s3.list_pages(raw)
                    for o in page.get("Contents", [])},
        "uploads": sorted((u["Key"], u["UploadId"]) for u in multipart_uploads.list_unfinished_uploads(raw)),
        "samples": list(Sample.objects.order_by("pk").values()),
        "files": list(SampleFile.objects.order_by("pk").values()),
        "ledger": list(StoredObject.objects.order_by("pk").values()),
    }


@pytest.fixture
def stocked(client_for, clinician, tmp_path, django_capture_on_commit_callbacks):
    """A lab that already holds a stored sample (no-JS form) and one with a direct upload in
    progress (BASE)."""
    client = client_for(clinician)
    r1, r2 = write_fastq_pair(tmp_path, "OLD", reads=50)
    body, content_type = multipart(sample_fields("OLD"), [
        ("r1", r1.name, r1.read_bytes()), ("r2", r2.name, r2.read_bytes())])
    assert client.generic("POST", NEW, body, content_type=content_type).status_code == 302
    created = client.post(NEW, {**sample_fields("BASE"), "r1_name": "BASE_R1.fastq.gz",
                                "r1_size": 64, "r2_name": "BASE_R2.fastq.gz", "r2_size": 65},
                          HTTP_ACCEPT="application/json").json()
    upload_url = created["files"][0]["upload_url"]
    started = client.post(upload_url, json.dumps({"name": "BASE_R1.fastq.gz", "size": 64}),
                          content_type="application/json")
    assert started.status_code == 200, started.content
    return client, upload_url


def send(client, upload_url, case: Case):
    r = case.request
    if case.path == "json":
        return client.post(NEW, r, HTTP_ACCEPT="application/json")
    if case.path == "form":
        body, content_type = multipart(r["fields"], r["files"])
        return client.generic("POST", NEW, body, content_type=content_type)
    if case.path == "sheet-json":
        raw = r.get("raw") or r["text"].encode()
        files = r.get("files_raw") or json.dumps(r["chosen"])
        body, content_type = multipart_with_sheet({"consent": "on", "files": files}, raw, [])
        return client.generic("POST", SHEET, body, content_type=content_type,
                              HTTP_ACCEPT="application/json")
    if case.path == "sheet-form":
        body, content_type = multipart_with_sheet({"consent": "on"}, r["text"].encode(),
                                                  r["files"])
        return client.generic("POST", SHEET, body, content_type=content_type)
    call = r["call"]
    url = {"start": upload_url, "sign": f"{upload_url}parts/{r.get('part')}/",
           "complete": f"{upload_url}complete/"}[call]
    data = r["raw"] if "raw" in r else json.dumps(r.get("body", {}))
    return client.post(url, data, content_type="application/json")


def multipart_with_sheet(fields: dict, sheet_bytes: bytes, files: list) -> tuple[bytes, str]:
    return multipart(fields, [("sheet", "sheet.csv", sheet_bytes), *files])


def answer_text(response) -> str:
    if response.get("Content-Type", "").startswith("application/json"):
        return json.dumps(response.json(), ensure_ascii=False)
    return response.content.decode()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_gets_its_answer_and_changes_nothing_stored(stocked, case):
    client, upload_url = stocked
    before = stored_state()
    response = send(client, upload_url, case)
    text = answer_text(response)
    assert response.status_code == case.status, text[:3000]
    expected = case.message
    if not response.get("Content-Type", "").startswith("application/json"):
        from django.utils.html import escape
        expected = escape(expected)
    assert expected in text, text[:3000]
    after = stored_state()
    for name in ("samples", "files", "uploads"):
        assert after[name] == before[name], name
    # What was stored is still there, unchanged; the form alone may keep files that passed their
    # own checks (under received/), and never a hostile one.
    assert {k: after["objects"].get(k) for k in before["objects"]} == before["objects"]
    assert before["ledger"] == after["ledger"][:len(before["ledger"])]
    added = set(after["objects"]) - set(before["objects"])
    if case.keeps_received:
        assert all("/received/" in key for key in added), added
        assert len(added) <= 2
    else:
        assert added == set()
        assert after["ledger"] == before["ledger"]


def test_the_corpus_is_at_least_thirty_inputs_on_every_path():
    assert len(CASES) >= 30
    assert {c.path for c in CASES} == {"json", "form", "sheet-json", "sheet-form", "upload-api"}


def test_html_in_the_clinical_indication_comes_back_escaped(stocked):
    client, _upload_url = stocked
    script = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    response = client.post(NEW, json_new(clinical_indication=script),
                           HTTP_ACCEPT="application/json")
    assert response.status_code == 201
    sample = Sample.objects.get(name="NEW1")
    assert sample.clinical_indication == script, "stored as typed"
    page = client.get(response.json()["sample"]["url"]).content.decode()
    assert script not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page


def test_a_body_that_is_not_gzip_is_stored_then_rejected_with_the_reason(
        stocked, sync_tasks, django_capture_on_commit_callbacks):
    client, _upload_url = stocked
    body, content_type = multipart(sample_fields("NEW1"), [
        ("r1", "NEW1_R1.fastq.gz", b"@r1\nACGT\n+\nIIII\n"),
        ("r2", "NEW1_R2.fastq.gz", b"@r1\nACGT\n+\nIIIJ\n")])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.generic("POST", NEW, body, content_type=content_type)
    assert response.status_code == 302
    sample = Sample.objects.get(name="NEW1")
    assert sample.status == "rejected"
    assert "is not gzip-compressed" in sample.rejection_reason


@pytest.mark.parametrize("name", ["S1", "S.1", "a_b-c.d", "S..1", "..", ".S1", "S1/..", "S" * 64,
                                  "S" * 65, "S1\u0430", "S1 ", "S\x001"])
def test_one_rule_for_sample_names_in_the_forms_and_the_keys(name, lab_a):
    """A name the form accepts always makes a key, and a name the keys refuse never passes the
    form: both use storage.keys.SAMPLE_NAME_RULE."""
    from jobs.intake.forms import SampleForm
    from storage import keys

    form = SampleForm({**sample_fields(), "name": name})
    if form.is_valid():
        keys.raw_fastq_key(lab_a, uuid.uuid4(), form.cleaned_data["name"], 1)
    else:
        assert "no two dots in a row" in " ".join(form.errors["name"])
        with pytest.raises(keys.UnsafeKeyComponent):
            keys.raw_fastq_key(lab_a, uuid.uuid4(), name, 1)
