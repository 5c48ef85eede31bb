"""Intake with one key per storage role on a real S3 server (SeaweedFS started with the identities
storage/policies.py generates): the web process takes uploads (direct and plain form, with kept
copies) with the web key alone, the worker verifies and sweeps with the worker key alone."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from jobs.intake.uploads import intake_sweep
from jobs.intake.verification import sample_verify
from jobs.models import Sample, SampleStatus
from storage import s3
from storage.buckets import bucket_name
from storage.credentials import acting_as
from tests import storage_roles
from tests.storage_roles import as_process
from tests.upload_client import sample_fields

pytestmark = pytest.mark.django_db
role_keys, role_server = storage_roles.role_keys, storage_roles.role_server   # the fixtures
NEW = "/labs/lab-a/samples/new/"


def raw_keys() -> list[str]:
    with acting_as("records"):
        return sorted(o["Key"] for page in s3.list_pages(bucket_name("raw"))
                      for o in page.get("Contents", []))


def test_a_direct_upload_with_the_web_key_verified_with_the_worker_key(
        role_server, uploader_for, clinician, fastq_pair, django_capture_on_commit_callbacks):
    with as_process("web"), django_capture_on_commit_callbacks():   # verification not run here
        created = uploader_for(clinician).create_sample(sample_fields("S1"), *fastq_pair)
        for info, path in zip(created["files"], fastq_pair):
            status, answer = uploader_for(clinician).upload(info, path)
            assert status == 200, answer
    with as_process("worker"):
        with django_capture_on_commit_callbacks(execute=True):   # the tags are set on commit
            sample = sample_verify(sample_id=created["sample"]["id"])
        assert sample.status == SampleStatus.READY, sample.rejection_reason
        assert s3.get_object_tags(bucket_name("raw"), sample.file(1).key)["verified"] == "true"
        intake_sweep()


def test_a_plain_form_upload_keeps_and_releases_its_copies_with_the_web_key(
        role_server, client_for, clinician, fastq_pair, django_capture_on_commit_callbacks):
    r1, r2 = fastq_pair
    with as_process("web"):
        client = client_for(clinician)
        response = client.post(NEW, {
            **sample_fields(name="bad name!"),
            "r1": SimpleUploadedFile(r1.name, r1.read_bytes(), content_type="application/gzip"),
            "r2": SimpleUploadedFile(r2.name, r2.read_bytes(), content_type="application/gzip")})
        assert response.status_code == 400
        kept = [k for k in raw_keys() if "/received/" in k]
        assert len(kept) == 2
        token = response.context["form"]["received"].value()
        with django_capture_on_commit_callbacks():
            done = client.post(NEW, {**sample_fields(name="S2"), "received": token})
        assert done.status_code == 302, done.content.decode()[:2000]
    sample = Sample.objects.get(name="S2")
    assert not set(kept) & set(raw_keys()), "the kept copies were removed with the web key"
    with as_process("worker"):
        assert sample_verify(sample_id=sample.pk).status == SampleStatus.READY
