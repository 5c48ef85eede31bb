"""The storage scrub with the jobs' records: a FASTQ uploaded and verified through the portal has its
SHA-256 only on its SampleFile row (jobs/records/stored_digests.py), and is still checked against
it; a damaged file is audited in its lab's trail and listed in the admin."""

import pytest
from django.core import mail
from django.core.management import CommandError, call_command

from jobs.models import Sample, SampleStatus
from storage import s3
from storage.buckets import bucket_name
from storage.models import ScrubFinding, StoredObject
from tenants import audit_actions
from tenants.models import AuditEvent
from tests.helpers import make_user
from tests.upload_client import sample_fields

pytestmark = pytest.mark.django_db


@pytest.fixture
def verified_upload(provisioned_s3, sync_tasks, uploader_for, clinician, fastq_pair, settings,
                    django_capture_on_commit_callbacks):
    settings.ADMINS = [("Ops", "ops@lab.test")]
    r1, r2 = fastq_pair
    with django_capture_on_commit_callbacks(execute=True):    # the verification is queued
        created = uploader_for(clinician).upload_sample(sample_fields("S1"), r1, r2)
    sample = Sample.objects.get(pk=created["sample"]["id"])
    assert sample.status == SampleStatus.READY, sample.rejection_reason
    return sample


def verify() -> int:
    try:
        call_command("verify_storage", "--all")
    except CommandError as exc:
        return exc.returncode
    return 0


def test_a_changed_fastq_is_found_by_the_digest_on_its_sample_file(verified_upload, lab_a,
                                                                    client_for):
    r1 = verified_upload.file(1)
    raw = bucket_name("raw")
    assert StoredObject.objects.get(key=r1.key, deleted_at__isnull=True).sha256 == ""
    assert verify() == 0

    original = s3.open_object(raw, r1.key).read()
    flipped = bytes([original[-1] ^ 0xFF])
    s3.client().put_object(Bucket=raw, Key=r1.key, Body=original[:-1] + flipped)
    assert verify() == 1

    finding = ScrubFinding.objects.get()
    assert (finding.kind, finding.key, finding.lab) == ("sha256_mismatch", r1.key, lab_a)
    assert f"SHA-256 {r1.sha256} (FASTQ {r1.pk})" in finding.expected
    assert r1.key in mail.outbox[0].body

    event = AuditEvent.objects.get(action=audit_actions.STORAGE_SCRUB_FINDINGS)
    assert event.lab == lab_a and event.actor_id == "system"
    assert event.details["objects"] == [{"bucket": raw, "key": r1.key,
                                         "kind": "sha256_mismatch"}]

    staff = make_user("ops@wes.test", is_staff=True, is_superuser=True)
    page = client_for(staff).get("/admin/wes_storage/scrubfinding/?resolved_at__isnull=True")
    html = page.content.decode()
    assert page.status_code == 200 and r1.key in html and "SHA-256 differs" in html
    assert client_for(staff).get(f"/admin/wes_storage/scrubfinding/{finding.pk}/change/") \
        .status_code == 200
    assert client_for(staff).get("/admin/wes_storage/scrubfinding/add/").status_code == 403
