"""`wes submit`, `wes status` of a job, and `wes download` against the real portal and S3: the
download is audited with its reason and kept only when its SHA-256 is the recorded one."""

from __future__ import annotations

import hashlib

import pytest
from django.utils import timezone

from jobs.models import Job, JobOutput, Sample
from storage import keys, s3
from storage.buckets import bucket_name
from tenants import audit_actions
from tenants.models import AuditEvent
from tests.fastq_data import write_fastq_pair
from wes_cli.errors import FAILED, NOT_FOUND, USAGE
from wes_cli.tests.conftest import api_token, run_cli, run_json

pytestmark = [pytest.mark.s3, pytest.mark.django_db(transaction=True)]

UPLOAD = ["--indication", "Early-onset epilepsy", "--consent"]
OUTPUTS = {"vcf/CLI3.vcf.gz": b"##fileformat=VCFv4.2\n" * 5000, "CLI3_Final_.txt": b"gene\tvar\n"}


@pytest.fixture
def as_manager(portal, manager, cli_env):
    run_json(cli_env, "login", "--url", portal, "--token", api_token(manager))
    return cli_env


@pytest.fixture
def ready_sample(as_manager, tmp_path, monkeypatch):
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)      # verification runs at once ...
    r1, r2 = write_fastq_pair(tmp_path / "fastq", "CLI3", reads=200)
    run_json(as_manager, "upload", "CLI3", str(r1), str(r2), *UPLOAD)
    monkeypatch.setattr(Conf, "SYNC", False)     # ... a submitted job stays queued
    sample = Sample.objects.get(name="CLI3")
    assert sample.status == "ready"
    return sample


@pytest.fixture
def finished_job(ready_sample, manager):
    """A succeeded job whose outputs are in the results bucket, as publishing leaves them (rows
    made directly: these tests are about the client, not the pipeline, which would take minutes)."""
    job = Job.objects.create(lab=manager.lab, sample=ready_sample, status="succeeded",
                             submitted_by=manager.user, finished_at=timezone.now())
    for path, data in OUTPUTS.items():
        key = keys.job_output_key(manager.lab, job.pk, path)
        s3.put_bytes(bucket_name("results"), key, data, content_type="application/octet-stream")
        JobOutput.objects.create(lab=manager.lab, job=job, path=path, bucket_role="results",
                                 key=key, size=len(data), sha256=hashlib.sha256(data).hexdigest(),
                                 verified_at=timezone.now())
    return job


def test_submit_queues_a_job_and_status_follows_it(as_manager, ready_sample):
    answer = run_json(as_manager, "submit", str(ready_sample.pk))
    job = Job.objects.get(sample=ready_sample)
    assert answer["job"]["id"] == str(job.pk) and answer["job"]["status"] == "queued"
    status = run_json(as_manager, "status", f"job:{job.pk}")
    assert status["kind"] == "job" and status["job"]["sample_id"] == str(ready_sample.pk)
    bare = run_json(as_manager, "status", str(job.pk))   # a bare id that is no sample's
    assert bare["kind"] == "job"
    waited = run_cli(as_manager, "--json", "status", str(job.pk), "--wait", "--interval", "0.1",
                     "--timeout", "0.3")
    assert waited.returncode == FAILED and '"timed_out": true' in waited.stdout
    again = run_json(as_manager, "submit", str(ready_sample.pk), expect=FAILED)
    assert again["exit_code"] == FAILED


def test_download_fetches_every_output_and_checks_its_sha256(as_manager, finished_job,
                                                             tmp_path):
    answer = run_json(as_manager, "download", str(finished_job.pk), "--reason", "clinical_care",
                      "-o", str(tmp_path / "out"))
    assert {f["file"].rsplit("/", 1)[-1] for f in answer["files"]} == {"CLI3.vcf.gz",
                                                                       "CLI3_Final_.txt"}
    assert (tmp_path / "out" / "CLI3.vcf.gz").read_bytes() == OUTPUTS["vcf/CLI3.vcf.gz"]
    assert all(f["verified"] for f in answer["files"])
    events = AuditEvent.objects.filter(action=audit_actions.OUTPUT_DOWNLOADED)
    assert events.count() == 2
    assert {e.details["reason"] for e in events} == {"clinical_care"}

    only = run_json(as_manager, "download", str(finished_job.pk), "--reason", "a second opinion",
                    "--output", "CLI3_Final_.txt", "-o", str(tmp_path / "one"))
    assert [f["file"].rsplit("/", 1)[-1] for f in only["files"]] == ["CLI3_Final_.txt"]
    assert sorted(p.name for p in (tmp_path / "one").iterdir()) == ["CLI3_Final_.txt"]


def test_a_download_whose_bytes_differ_is_not_kept(as_manager, finished_job, tmp_path):
    JobOutput.objects.filter(path="CLI3_Final_.txt").update(sha256="0" * 64)
    answer = run_json(as_manager, "download", str(finished_job.pk), "--reason", "lab_review",
                      "--output", "CLI3_Final_.txt", "-o", str(tmp_path), expect=FAILED)
    assert "do not match the portal's record" in answer["error"] and answer["expected"] == "0" * 64
    assert not [p for p in tmp_path.iterdir() if "CLI3" in p.name], "nothing kept, no .part"


def test_download_needs_a_reason_and_a_known_output(as_manager, finished_job, tmp_path):
    result = run_cli(as_manager, "download", str(finished_job.pk), "-o", str(tmp_path))
    assert result.returncode == USAGE and "--reason" in result.stderr
    result = run_cli(as_manager, "download", str(finished_job.pk), "--reason", "x",
                     "--output", "nope.txt")
    assert result.returncode == NOT_FOUND
    result = run_cli(as_manager, "download", str(finished_job.pk), "--report", "--reason", "x")
    assert result.returncode == FAILED and "no signed report" in result.stderr
    assert not AuditEvent.objects.filter(action=audit_actions.OUTPUT_DOWNLOADED).exists()
