"""The "New sample" form: the JSON variant the uploader posts, the plain no-JS variant, and the
page itself. Bad input gets a specific message next to the field and nothing is stored."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from jobs.models import Sample
from tests.upload_client import sample_fields
from storage import s3
from storage.buckets import bucket_name

NEW = "/labs/lab-a/samples/new/"


def post_direct(client, **overrides):
    data = {**sample_fields(), "r1_name": "S1_R1.fastq.gz", "r1_size": 1000,
            "r2_name": "S1_R2.fastq.gz", "r2_size": 1000}
    data.update(overrides)
    return client.post(NEW, {k: v for k, v in data.items() if v is not None},
                       HTTP_ACCEPT="application/json")


def test_it_shows_the_form_to_members(client_for, clinician):
    page = client_for(clinician).get(NEW).content.decode()
    assert "data-upload-form" in page and 'name="r1"' in page and 'name="consent"' in page


def test_the_sex_is_not_preselected(client_for, clinician):
    # Each sample's sex is chosen, never the first option taken by default (it was "Female").
    page = client_for(clinician).get(NEW).content.decode()
    select = page[page.index('<select name="sex"'):]
    select = select[:select.index("</select>")]
    assert '<option value="" selected>— choose —</option>' in select
    assert select.count("selected") == 1


def test_long_texts_are_not_cut_by_the_browser(client_for, clinician):
    # maxlength made the browser cut a pasted HPO list mid-term, silently; the server says it.
    page = client_for(clinician).get(NEW).content.decode()
    for name in ("hpo_terms", "clinical_indication"):
        tag = re.search(rf'<(?:input|textarea)[^>]*name="{name}"[^>]*>', page).group(0)
        assert "maxlength" not in tag, tag
    response = post_direct(client_for(clinician),
                           hpo_terms=", ".join(f"HP:{i:07d}" for i in range(1000, 1300)))
    assert response.status_code == 400
    assert response.json()["errors"]["hpo_terms"] == [
        "Ensure this value has at most 2000 characters (it has 3598)."]


def test_it_answers_404_to_an_outsider(client_for, outsider, clinician):
    client = client_for(outsider)
    assert client.get(NEW).status_code == 404
    assert post_direct(client).status_code == 404
    assert not Sample.objects.exists()


BAD_FORMS = [
    ({"r1_size": 0}, "r1", "The file is empty."),
    ({"r2_name": "S1_R2.txt"}, "r2", "ending in .fastq.gz or .fq.gz"),
    ({"r1_name": "S1_R1.fastq"}, "r1", "ending in .fastq.gz or .fq.gz"),
    ({"r1_name": "../../etc/S1_R1.fastq.gz"}, "r1", "must not contain a path"),
    ({"r1_name": "..\\S1_R1.fastq.gz"}, "r1", "must not contain a path"),
    ({"r1_name": "S1_R1\u202egz.qtsaf.fastq.gz"}, "r1", "invisible control or direction"),
    ({"r2_name": "S1\x07_R2.fastq.gz"}, "r2", "invisible control or direction"),
    ({"r2_name": "S1\x00_R2.fastq.gz"}, "r2", "invisible control or direction"),
    ({"r1_name": "x" * 300 + ".fastq.gz"}, "r1", "309 characters long; rename the file to at most 255"),
    ({"r1_size": 60 * 1024**3}, "r1", "the limit is 50"),
    ({"r1_size": -5}, "r1", "not negative"),
    ({"r1_size": "lots"}, "r1", "Enter a whole number"),
    ({"r2_name": "S1_R1.fastq.gz", "r2_size": 1000}, "__all__", "R1 and R2 are the same file"),
    ({"r1_name": "S1_R2.fastq.gz", "r2_name": "S1_R1.fastq.gz"}, "__all__", "look swapped"),
    ({"name": "../S1"}, "name", "Use 1-64 letters"),
    ({"name": "<script>"}, "name", "Use 1-64 letters"),
    ({"name": ""}, "name", "This field is required"),
    ({"external_id": "Jane Doe"}, "external_id", "pseudonymous identifier"),
    ({"consent": None}, "consent", "Confirm that consent for genomic testing is documented"),
    ({"hpo_terms": "HP:12, seizures"}, "hpo_terms", "Not an HPO term: HP:12, seizures"),
    ({"sex": "x"}, "sex", "Use female, male, other or unknown, not “x”."),
    ({"sex": ""}, "sex", "Choose the sex recorded for this sample (or Unknown)."),
    ({"clinical_indication": ""}, "clinical_indication", "This field is required"),
]


@pytest.mark.parametrize("overrides,field,message", BAD_FORMS)
def test_it_explains_each_bad_field(client_for, clinician, overrides, field, message):
    response = post_direct(client_for(clinician), **overrides)
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert any(message in m for m in errors[field]), errors
    assert not Sample.objects.exists()


def test_it_accepts_harmless_odd_names_and_shows_them_escaped(client_for, clinician):
    client = client_for(clinician)
    odd = "S1 \"quoted\" 'single' <img src=x onerror=alert(1)>_R1.fastq.gz"
    response = post_direct(client, r1_name=odd)
    assert response.status_code == 201
    page = client.get(response.json()["sample"]["url"]).content.decode()
    assert "&lt;img src=x onerror=alert(1)&gt;" in page and "<img src=x" not in page
    assert Sample.objects.get().file(1).key.endswith("/S1_R1.fastq.gz")


def test_it_refuses_a_second_active_sample_with_the_same_name(client_for, clinician):
    client = client_for(clinician)
    assert post_direct(client).status_code == 201
    response = post_direct(client)
    assert response.status_code == 400
    assert response.json()["errors"]["name"] == ["Lab A Genomics already has a sample named S1."]
    assert Sample.objects.count() == 1


def test_it_lets_another_lab_use_the_same_sample_name(client_for, clinician, outsider):
    assert post_direct(client_for(clinician)).status_code == 201
    response = client_for(outsider).post("/labs/lab-b/samples/new/", {
        **sample_fields(), "r1_name": "S1_R1.fastq.gz", "r1_size": 5,
        "r2_name": "S1_R2.fastq.gz", "r2_size": 5}, HTTP_ACCEPT="application/json")
    assert response.status_code == 201


def gz_upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/gzip")


def test_it_takes_a_plain_form_upload_and_streams_it_to_storage(
        client_for, clinician, provisioned_s3, fastq_pair, sync_tasks,
        django_capture_on_commit_callbacks):
    r1, r2 = fastq_pair
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(clinician).post(NEW, {
            **sample_fields(), "r1": gz_upload(r1.name, r1.read_bytes()),
            "r2": gz_upload(r2.name, r2.read_bytes())})
    response = client_for(clinician).get(response.url)
    assert response.status_code == 200
    sample = Sample.objects.get()
    assert sample.status == "ready", sample.rejection_reason
    for f, path in zip(sample.files.order_by("read"), fastq_pair):
        assert s3.open_object(bucket_name("raw"), f.key).read() == path.read_bytes()
        assert f.read_count == 2000 and f.status == "verified"
    assert "Ready" in response.content.decode()


def test_it_explains_bad_files_in_the_plain_form(client_for, clinician, provisioned_s3):
    response = client_for(clinician).post(NEW, {
        **sample_fields(), "r1": gz_upload("S1_R1.fastq.gz", b""),
        "r2": gz_upload("notes.txt", b"hello")})
    assert response.status_code == 400
    page = response.content.decode()
    assert "The file is empty." in page and "ending in .fastq.gz or .fq.gz" in page
    assert not Sample.objects.exists()
    assert s3.client().list_objects_v2(Bucket=bucket_name("raw")).get("KeyCount") == 0


def raw_keys() -> list[str]:
    listed = s3.client().list_objects_v2(Bucket=bucket_name("raw"))
    return sorted(o["Key"] for o in listed.get("Contents", []))


def test_a_field_error_keeps_the_files_and_the_correction_is_sent_without_them(
        client_for, clinician, provisioned_s3, fastq_pair, sync_tasks,
        django_capture_on_commit_callbacks):
    """Without JavaScript a field error used to cost both files; now they are kept (raw bucket,
    the lab's prefix) and the corrected form, sent with empty file inputs, stores the sample."""
    r1, r2 = fastq_pair
    client = client_for(clinician)
    response = client.post(NEW, {**sample_fields(name="bad name!"),
                                 "r1": gz_upload(r1.name, r1.read_bytes()),
                                 "r2": gz_upload(r2.name, r2.read_bytes())})
    assert response.status_code == 400
    page = response.content.decode()
    assert "Use 1-64 letters" in page
    assert f"{r1.name}</strong> received" in page and f"{r2.name}</strong> received" in page
    kept = raw_keys()
    assert len(kept) == 2 and all(k.startswith(f"{clinician.lab.pk}/received/") for k in kept)
    token = response.context["form"]["received"].value()
    assert token and f'value="{token}"' in page
    assert not Sample.objects.exists()

    # Another member of the lab cannot claim them with this token.
    from tenants.services import membership_add
    from tests.helpers import make_user
    other = membership_add(lab=clinician.lab, user=make_user("other@lab-a.test"), role="clinician")
    stolen = client_for(other).post(NEW, {**sample_fields(), "received": token})
    assert stolen.status_code == 400 and "Choose the R1 file." in stolen.content.decode()

    # A second field error keeps them still, without sending them again.
    client = client_for(clinician)
    again = client.post(NEW, {**sample_fields(external_id="Jane Doe"), "received": token})
    assert again.status_code == 400 and f"{r1.name}</strong> received" in again.content.decode()
    token = again.context["form"]["received"].value()

    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(NEW, {**sample_fields(name="S1"), "received": token})
    assert done.status_code == 302, done.content.decode()[:3000]
    sample = Sample.objects.get()
    assert sample.status == "ready", sample.rejection_reason
    for f, path in zip(sample.files.order_by("read"), fastq_pair):
        assert s3.open_object(bucket_name("raw"), f.key).read() == path.read_bytes()
        assert (f.original_name, f.client_sha256) == (path.name, f.sha256)
    assert raw_keys() == sorted(f.key for f in sample.files.all()), "the kept copies are gone"


def test_it_says_when_storage_is_down_and_records_nothing(client_for, clinician, storage_down,
                                                          fastq_pair):
    from django.test import override_settings

    from tests.helpers import storages_for

    r1, r2 = fastq_pair
    buckets = {"MINIO_BUCKET_RAW": "raw", "MINIO_BUCKET_INTERMEDIATE": "i",
               "MINIO_BUCKET_RESULTS": "r", "MINIO_BUCKET_ARCHIVES": "a", "MINIO_BUCKET_LOGS": "l"}
    with override_settings(STORAGES=storages_for(storage_down, buckets)):
        response = client_for(clinician).post(NEW, {
            **sample_fields(), "r1": gz_upload(r1.name, r1.read_bytes()),
            "r2": gz_upload(r2.name, r2.read_bytes())})
    assert response.status_code == 400
    assert "Your files could not be stored, so nothing was saved" in response.content.decode()
    assert not Sample.objects.exists()


def test_it_finds_samples_by_name_or_identifier_within_the_lab(client_for, clinician, outsider):
    client = client_for(clinician)
    post_direct(client, name="NA12878", external_id="PSN-0042")
    post_direct(client, name="HG002", external_id="PSN-0777")
    client_for(outsider).post("/labs/lab-b/samples/new/", {
        **sample_fields("NA12878-B", external_id="PSN-0042-B"), "r1_name": "B_R1.fastq.gz",
        "r1_size": 5, "r2_name": "B_R2.fastq.gz", "r2_size": 5}, HTTP_ACCEPT="application/json")

    client = client_for(clinician)
    page = client.get("/labs/lab-a/samples/?q=0042").content.decode()
    assert "NA12878" in page and "HG002" not in page and "NA12878-B" not in page
    page = client.get("/labs/lab-a/samples/?q=hg00").content.decode()
    assert "HG002" in page and "PSN-0042" not in page
    assert "No sample matches" in client.get("/labs/lab-a/samples/?q=nothing").content.decode()
    assert client_for(outsider).get("/labs/lab-a/samples/?q=0042").status_code == 404
