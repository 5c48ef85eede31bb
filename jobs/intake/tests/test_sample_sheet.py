"""Sample sheets: every row checked, problems listed by row, all samples created or none."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from jobs.models import Sample
from tests.fastq_data import write_fastq_pair

SHEET = "/labs/lab-a/samples/sheet/"
HEADER = "sample_name,identifier,sex,clinical_indication,hpo_terms,r1,r2\n"
GOOD_ROWS = ("S1,PSN-1,female,Seizures,HP:0001250,S1_R1.fastq.gz,S1_R2.fastq.gz\n"
             "S2,PSN-2,male,Hypotonia,,S2_R1.fastq.gz,S2_R2.fastq.gz\n")
CHOSEN = [{"name": f"S{n}_R{r}.fastq.gz", "size": 1000} for n in (1, 2) for r in (1, 2)]


def post_sheet(client, text, chosen=CHOSEN, consent=True):
    data = {"sheet": SimpleUploadedFile("sheet.csv", text.encode(), "text/csv"),
            "files": json.dumps(chosen)}
    if consent:
        data["consent"] = "on"
    return client.post(SHEET, data, HTTP_ACCEPT="application/json")


def test_it_creates_every_sample_of_a_good_sheet(client_for, clinician):
    response = post_sheet(client_for(clinician), HEADER + GOOD_ROWS)
    assert response.status_code == 201, response.content
    body = response.json()
    assert [s["sample"]["name"] for s in body["samples"]] == ["S1", "S2"]
    assert body["list_url"] == "/labs/lab-a/samples/"
    assert body["done_url"] == "/labs/lab-a/samples/?uploaded=2"
    assert set(Sample.objects.values_list("name", "sex")) == {("S1", "female"), ("S2", "male")}
    assert [f["name"] for f in body["samples"][1]["files"]] == ["S2_R1.fastq.gz", "S2_R2.fastq.gz"]


def test_it_reads_semicolon_sheets_with_a_byte_order_mark(client_for, clinician):
    text = "\ufeff" + (HEADER + GOOD_ROWS).replace(",", ";")
    assert post_sheet(client_for(clinician), text).status_code == 201


@pytest.mark.parametrize("delimiter", [",", ";"])
def test_it_reads_quotes_inside_quoted_fields_as_excel_writes_them(client_for, clinician,
                                                                   delimiter):
    # Excel doubles a quote inside a quoted field. Sniffing the dialect from the header (no
    # quotes there) turned doubled quotes off: the indication came out garbled.
    rows = ('S1,PSN-1,female,"Seizures, ""atypical"" absences",HP:0001250,S1_R1.fastq.gz,'
            'S1_R2.fastq.gz\n'
            'S2,PSN-2,male,"=HYPERLINK(""http://x"",""y"")",,S2_R1.fastq.gz,S2_R2.fastq.gz\n')
    text = (HEADER + rows).replace(",", delimiter) if delimiter != "," else HEADER + rows
    if delimiter == ";":   # the commas inside the quoted fields stay commas
        text = text.replace('"Seizures; ', '"Seizures, ').replace('"";""', '"",""')
    response = post_sheet(client_for(clinician), text)
    assert response.status_code == 201, response.content
    indications = dict(Sample.objects.values_list("name", "clinical_indication"))
    assert indications == {"S1": 'Seizures, "atypical" absences',
                           "S2": '=HYPERLINK("http://x","y")'}


BAD_ROWS = [
    ("S1,PSN-1,female,Seizures,,S1_R1.fastq.gz,S1_R2.fastq.gz\n"
     "S1,PSN-2,male,Hypotonia,,S2_R1.fastq.gz,S2_R2.fastq.gz\n", 3, "S1 is also on row 2"),
    ("S1,PSN-1,female,Seizures,,S1_R1.fastq.gz,S1_R2.fastq.gz\n"
     "S2,PSN-2,male,Hypotonia,,S1_R1.fastq.gz,S2_R2.fastq.gz\n", 3,
     "S1_R1.fastq.gz is already used on row 2"),
    ("S1,PSN-1,female,Seizures,,S1_R1.fastq.gz,S1_R2.fastq.gz\n"
     "S2,PSN-2,male,Hypotonia,,S2_R1.fastq.gz,S9_R2.fastq.gz\n", 3,
     "S9_R2.fastq.gz is not among the chosen files"),
    ("S1,PSN-1,alien,Seizures,,S1_R1.fastq.gz,S1_R2.fastq.gz\n"
     "S2,PSN-2,male,Hypotonia,,S2_R1.fastq.gz,S2_R2.fastq.gz\n", 2,
     "sex: Use female, male, other or unknown, not “alien”."),
    ("../S1,PSN-1,female,Seizures,,S1_R1.fastq.gz,S1_R2.fastq.gz\n"
     "S2,PSN-2,male,Hypotonia,,S2_R1.fastq.gz,S2_R2.fastq.gz\n", 2, "sample_name: Use 1-64"),
    ("S1,PSN-1,female,Seizures,HP:1,S1_R1.fastq.gz,S1_R2.fastq.gz\n"
     "S2,PSN-2,male,Hypotonia,,S2_R1.fastq.gz,S2_R2.fastq.gz\n", 2, "hpo_terms: Not an HPO term"),
    ("S1,PSN-1,female,Seizures,,S1_R2.fastq.gz,S1_R1.fastq.gz\n"
     "S2,PSN-2,male,Hypotonia,,S2_R1.fastq.gz,S2_R2.fastq.gz\n", 2, "look swapped"),
]


@pytest.mark.parametrize("rows,row_number,message", BAD_ROWS)
def test_it_lists_problems_by_row_and_creates_nothing(client_for, clinician, rows, row_number,
                                                      message):
    response = post_sheet(client_for(clinician), HEADER + rows)
    assert response.status_code == 400
    problems = {p["row"]: " ".join(p["errors"]) for p in response.json()["rows"]}
    assert message in problems[row_number], problems
    assert not Sample.objects.exists()


@pytest.mark.parametrize("text,message", [
    ("name,r1\nS1,a.fastq.gz\n", "missing: sample_name, identifier, sex"),
    (HEADER, "The sample sheet has no samples."),
    ("\xff\xfe not utf-8", "not UTF-8"),
])
def test_it_explains_a_sheet_it_cannot_read(client_for, clinician, text, message):
    raw = text.encode("latin-1") if "\xff" in text else text.encode()
    response = client_for(clinician).post(SHEET, {
        "sheet": SimpleUploadedFile("sheet.csv", raw), "consent": "on",
        "files": json.dumps(CHOSEN)}, HTTP_ACCEPT="application/json")
    assert response.status_code == 400
    assert any(message in m for m in response.json()["errors"]["__all__"])


def test_it_needs_consent_and_every_chosen_file_on_a_row(client_for, clinician):
    extra = CHOSEN + [{"name": "stray.fastq.gz", "size": 10}]
    response = post_sheet(client_for(clinician), HEADER + GOOD_ROWS, chosen=extra, consent=False)
    messages = " ".join(response.json()["errors"]["__all__"])
    assert "Confirm that consent" in messages and "stray.fastq.gz" in messages


def test_it_refuses_a_name_the_lab_already_has(client_for, clinician):
    client = client_for(clinician)
    assert post_sheet(client, HEADER + GOOD_ROWS).status_code == 201
    response = post_sheet(client, HEADER + GOOD_ROWS)
    assert "already has a sample named S1" in json.dumps(response.json()["rows"])
    assert Sample.objects.count() == 2


def test_it_answers_404_to_an_outsider(client_for, outsider, clinician):
    assert post_sheet(client_for(outsider), HEADER + GOOD_ROWS).status_code == 404
    assert client_for(outsider).get(SHEET).status_code == 404


def test_it_takes_a_sheet_and_its_files_without_javascript(
        client_for, clinician, provisioned_s3, sync_tasks, tmp_path,
        django_capture_on_commit_callbacks):
    files = {}
    for name in ("S1", "S2"):
        for path in write_fastq_pair(tmp_path, name, reads=300):
            files[path.name] = SimpleUploadedFile(path.name, path.read_bytes())
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(clinician).post(SHEET, {
            "sheet": SimpleUploadedFile("sheet.csv", (HEADER + GOOD_ROWS).encode()),
            "consent": "on", "fastqs": list(files.values())})
    assert response.status_code == 302 and response.url == "/labs/lab-a/samples/"
    assert sorted(Sample.objects.values_list("name", "status")) == [("S1", "ready"),
                                                                    ("S2", "ready")]


def test_a_one_sample_sheet_says_so_in_the_singular(client_for, clinician, provisioned_s3,
                                                   tmp_path):
    files = [SimpleUploadedFile(p.name, p.read_bytes())
             for p in write_fastq_pair(tmp_path, "S1", reads=300)]
    client = client_for(clinician)
    response = client.post(SHEET, {
        "sheet": SimpleUploadedFile("sheet.csv", (HEADER + GOOD_ROWS.splitlines()[0]).encode()),
        "consent": "on", "fastqs": files}, follow=True)
    assert "1 sample was uploaded and is being verified." in response.content.decode()


def test_a_sheet_without_javascript_is_stored_all_or_nothing(
        client_for, clinician, provisioned_s3, tmp_path, monkeypatch):
    """Issue 14.2: storage failing on row 2 leaves nothing of row 1 behind (no sample, no object,
    no ledger row), says so, and the same sheet sent again is stored whole."""
    from django.core.files.storage import storages

    from storage import s3
    from storage.buckets import bucket_name
    from storage.models import StoredObject

    paths = {}
    for name in ("S1", "S2"):
        for path in write_fastq_pair(tmp_path, name, reads=50):
            paths[path.name] = path

    def post():
        return client_for(clinician).post(SHEET, {
            "sheet": SimpleUploadedFile("sheet.csv", (HEADER + GOOD_ROWS).encode()),
            "consent": "on",
            "fastqs": [SimpleUploadedFile(n, p.read_bytes()) for n, p in paths.items()]})

    raw_storage = storages["raw"]
    real_save = raw_storage.save
    saved = []

    def failing_on_row_two(key, content, *args, **kwargs):
        if "/S2_R1" in key:
            raise s3.StorageError("the S3 server at test refused to store S2_R1 (SlowDown)")
        saved.append(key)
        return real_save(key, content, *args, **kwargs)

    monkeypatch.setattr(raw_storage, "save", failing_on_row_two)
    response = post()
    assert response.status_code == 503
    assert "No sample of this sheet was stored" in response.content.decode()
    assert len(saved) == 2, "row 1 was written before row 2 failed"
    assert not Sample.objects.exists() and not StoredObject.objects.exists()
    listed = s3.client().list_objects_v2(Bucket=bucket_name("raw"))
    assert listed.get("KeyCount") == 0, "row 1's objects were removed again"

    monkeypatch.setattr(raw_storage, "save", real_save)
    response = post()
    assert response.status_code == 302, response.content.decode()[:2000]
    assert sorted(Sample.objects.values_list("name", flat=True)) == ["S1", "S2"]


@pytest.mark.parametrize("uploaded, message", [
    ("2", "2 samples were uploaded and are being verified."),
    ("1", "1 sample was uploaded and is being verified."),
    ("0", None), ("x", None), ("9999", None)])
def test_the_list_confirms_a_sheet_uploaded_with_javascript(client_for, clinician, uploaded,
                                                            message):
    client = client_for(clinician)
    landed = client.get(f"/labs/lab-a/samples/?uploaded={uploaded}&sort=name")
    assert landed.status_code == 302 and landed["Location"] == "/labs/lab-a/samples/?sort=name"
    page = client.get(landed["Location"])
    assert page.status_code == 200
    text = page.content.decode()
    if message:
        assert message in text
    else:
        assert "was uploaded" not in text and "were uploaded" not in text
    # Shown once: a reload of the list does not say it again.
    again = client.get(landed["Location"]).content.decode()
    assert "was uploaded" not in again and "were uploaded" not in again
