"""Downloads of job outputs: presigned, short-lived, audited, for the right people only."""

import hashlib
import re
import time
from pathlib import Path

import pytest
import requests

from jobs.models import Job, JobOutput
from tenants import audit_actions
from tenants.models import AuditEvent


pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def pipeline_outputs(client_for, ready_sample, clinician, manager, pipeline_env):
    """The outputs of a real run of the pipeline on the test exome."""
    sample = ready_sample(clinician)
    client_for(clinician).post(f"/labs/lab-a/samples/{sample.pk}/submit/")
    job = Job.objects.get()
    assert job.status == "succeeded"
    return {o.path: o for o in job.outputs.all()}


@pytest.fixture
def outputs(clinician, provisioned_s3):
    """Three outputs of a succeeded job, stored in the results bucket as publishing stores them
    (key, size, SHA-256), without running the pipeline: the rules tested here are the
    download's; the first test downloads a real run's output."""
    from django.utils import timezone

    from jobs.intake import services
    from storage import s3
    from storage.buckets import bucket_name
    from storage.keys import job_output_key

    sample = services.sample_create(
        membership=clinician, files={1: ("TEST1_R1.fastq.gz", 100), 2: ("TEST1_R2.fastq.gz", 100)},
        data={"name": "TEST1", "external_id": "PSN-TEST1", "sex": "female", "consent": True,
              "clinical_indication": "Seizures", "hpo_terms": ["HP:0001250"]})
    now = timezone.now()
    job = Job.objects.create(id=sample.job_id, lab=sample.lab, sample=sample,
                             submitted_by=clinician.user, status="succeeded", submitted_at=now,
                             started_at=now, finished_at=now)
    made = {}
    for path, body in (("TEST1_Final_.txt", b"chrom\tpos\nchr1\t100\n"),
                       ("vcf/TEST1.vcf.gz", b"\x1f\x8b not really a VCF"),
                       ("metadata.json", b'{"sample": "TEST1"}')):
        key = job_output_key(sample.lab, job.pk, path)
        s3.put_bytes(bucket_name("results"), key, body, content_type="application/octet-stream")
        made[path] = JobOutput.objects.create(
            lab=sample.lab, job=job, path=path, bucket_role="results", key=key, size=len(body),
            sha256=hashlib.sha256(body).hexdigest(), verified_at=now)
    return made


def url_for(output, slug="lab-a"):
    return f"/labs/{slug}/jobs/{output.job_id}/outputs/{output.pk}/download/"


def test_a_manager_downloads_the_stored_bytes_through_a_presigned_url(client_for, manager,
                                                                      pipeline_outputs):
    table = pipeline_outputs["TEST1_Final_.txt"]
    client = client_for(manager)
    form = client.get(url_for(table)).content.decode()
    assert table.sha256 in form and "Why are you exporting it?" in form
    (shown,) = AuditEvent.objects.filter(action=audit_actions.DOWNLOAD_PAGE_VIEWED)
    assert (shown.phi_accessed, shown.data_exported, shown.resource_id) == (
        True, False, str(table.pk)), "the reason page names the sample and file: a PHI view"
    assert shown.details == {"job": str(table.job_id), "sample": str(table.job.sample_id)}

    response = client.post(url_for(table), {"reason": "clinical_care"})
    assert response.status_code == 302
    presigned = response.url
    assert "X-Amz-Signature=" in presigned and "X-Amz-Expires=300" in presigned
    fetched = requests.get(presigned, timeout=30)
    assert fetched.status_code == 200
    assert hashlib.sha256(fetched.content).hexdigest() == table.sha256
    assert fetched.headers["Content-Disposition"] == 'attachment; filename="TEST1_Final_.txt"'

    (event,) = AuditEvent.objects.filter(action=audit_actions.OUTPUT_DOWNLOADED)
    assert (event.phi_accessed, event.data_exported) == (True, True)
    assert event.actor_email == "manager@lab-a.test" and event.lab_id == manager.lab_id
    assert event.details["reason"] == "clinical_care" and event.details["sha256"] == table.sha256
    assert "X-Amz-Signature" not in str(event.details), "the URL is never recorded"


@pytest.mark.parametrize("data,message", [
    ({}, "Choose why you are exporting this file."),
    ({"reason": "curiosity"}, "Choose why you are exporting this file."),
    ({"reason": "other", "note": "  "}, "Say why you are exporting this file:"),
])
def test_it_asks_for_a_reason_and_issues_nothing_without_one(client_for, manager, outputs, data,
                                                             message):
    response = client_for(manager).post(url_for(outputs["vcf/TEST1.vcf.gz"]), data)
    assert response.status_code == 400 and message in response.content.decode()
    assert not AuditEvent.objects.filter(action=audit_actions.OUTPUT_DOWNLOADED).exists()


def test_a_clinician_waits_for_sign_out(client_for, clinician, outputs):
    client = client_for(clinician)
    assert client.get(url_for(outputs["TEST1_Final_.txt"])).status_code == 403
    assert client.post(url_for(outputs["TEST1_Final_.txt"]),
                       {"reason": "clinical_care"}).status_code == 403
    assert "data-download=" not in client.get(
        f"/labs/lab-a/jobs/{outputs['TEST1_Final_.txt'].job_id}/").content.decode()
    assert not AuditEvent.objects.filter(action=audit_actions.OUTPUT_DOWNLOADED).exists()


def test_an_outsider_gets_404_everywhere(client_for, outsider, outputs):
    client = client_for(outsider)
    output = outputs["TEST1_Final_.txt"]
    for url in (url_for(output), url_for(output, slug="lab-b")):
        assert client.get(url).status_code == 404
        assert client.post(url, {"reason": "clinical_care"}).status_code == 404


def test_an_output_of_another_job_is_not_found(client_for, manager, outputs):
    import uuid

    output = outputs["TEST1_Final_.txt"]
    url = f"/labs/lab-a/jobs/{uuid.uuid4()}/outputs/{output.pk}/download/"
    assert client_for(manager).post(url, {"reason": "clinical_care"}).status_code == 404


def test_a_url_for_one_object_does_not_open_another(client_for, manager, outputs):
    table, vcf = outputs["TEST1_Final_.txt"], outputs["vcf/TEST1.vcf.gz"]
    presigned = client_for(manager).post(url_for(table), {"reason": "lab_review"}).url
    tampered = presigned.replace(table.key, vcf.key)
    assert tampered != presigned
    assert requests.get(tampered, timeout=30).status_code == 403


def test_an_expired_url_is_refused_by_storage(client_for, manager, outputs, settings):
    settings.STORAGE_PRESIGNED_EXPIRY_SECONDS = 1
    presigned = client_for(manager).post(url_for(outputs["metadata.json"]),
                                         {"reason": "reanalysis"}).url
    time.sleep(2.5)
    assert requests.get(presigned, timeout=30).status_code == 403


def test_every_issued_url_is_one_audit_event(client_for, manager, outputs):
    client = client_for(manager)
    for output in outputs.values():
        assert client.post(url_for(output), {"reason": "lab_review"}).status_code == 302
    events = AuditEvent.objects.filter(action=audit_actions.OUTPUT_DOWNLOADED)
    assert sorted(e.details["path"] for e in events) == sorted(outputs)
    assert JobOutput.objects.count() == len(outputs)


def test_presigned_gets_are_issued_only_by_the_audited_download_helper():
    root = Path(__file__).resolve().parents[3]
    callers = []
    for app in ("portal", "tenants", "jobs", "storage"):
        for path in (root / app).rglob("*.py"):
            if "tests" in path.parts or path == root / "storage" / "s3.py":
                continue
            callers += [f"{path.relative_to(root)}:{n}" for n, line in
                        enumerate(path.read_text().splitlines(), 1)
                        if re.search(r"\bpresign_download\(", line)]
    assert len(callers) == 1 and callers[0].startswith("jobs/results/downloads.py:"), callers
    source = (root / "jobs/results/downloads.py").read_text()
    helper = source[source.index("def audited_download_url"):]
    assert helper.index("audit_record(") < helper.index("presign_download(")


def test_no_download_is_audited_or_counted_while_storage_is_down(client_for, manager, outputs,
                                                                 storage_down, caplog):
    table = outputs["TEST1_Final_.txt"]
    response = client_for(manager).post(url_for(table), {"reason": "clinical_care"})
    assert response.status_code == 400
    html = response.content.decode()
    # what it means for the member; the server and bucket go to the operators' log only
    assert "The file store is not answering, so no download link was made" in html
    assert storage_down not in html and "bucket" not in html.lower()
    assert f"cannot reach the S3 server at {storage_down}" in caplog.text
    assert not AuditEvent.objects.filter(action=audit_actions.OUTPUT_DOWNLOADED).exists()


def test_a_file_gone_from_storage_is_explained_not_issued(client_for, manager, outputs):
    from storage import versions
    from storage.buckets import bucket_name

    table = outputs["TEST1_Final_.txt"]
    versions.delete_object_versions(bucket_name(table.bucket_role), table.key)
    response = client_for(manager).post(url_for(table), {"reason": "clinical_care"})
    assert response.status_code == 400
    assert "TEST1_Final_.txt is no longer in storage; nothing was exported" in \
        response.content.decode()
    assert not AuditEvent.objects.filter(action=audit_actions.OUTPUT_DOWNLOADED).exists()
