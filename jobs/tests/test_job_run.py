"""A job submitted through the portal runs for real: local runner, the real tools, SeaweedFS,
the test database. It ends "succeeded" only with every output verified in its bucket."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from jobs.models import Job, JobStatus, Sample
from jobs.pipeline import pipeline_steps
from jobs.upload_client import sample_fields
from storage import s3
from storage.buckets import bucket_name
from tenants import actions
from tenants.models import AuditEvent

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def testdata(tmp_path_factory):
    out = tmp_path_factory.mktemp("wes-testdata")
    subprocess.run([sys.executable, str(ROOT / "nextflow/testdata/make_testdata.py"), str(out),
                    "--sample", "TEST1"], check=True, capture_output=True)
    return out


@pytest.fixture
def pipeline_env(provisioned_s3, sync_tasks, settings, tmp_path, testdata):
    settings.PIPELINE_WORK_DIR = tmp_path / "work"
    settings.REFERENCE_BUILD = "wes-mini"
    settings.PIPELINE_RUNNER = "local"
    reference = tmp_path / "reference"
    reference.mkdir()
    for name in ("ref.fa", "targets.bed", "genes.gff3"):
        (reference / name).write_bytes((testdata / name).read_bytes())
    call_command("load_reference", "wes-mini", str(reference))
    return testdata


def ready_sample(uploader_for, member, testdata, name="TEST1") -> Sample:
    uploader = uploader_for(member)
    created = uploader.upload_sample(sample_fields(name), testdata / "TEST1_R1.fastq.gz",
                                     testdata / "TEST1_R2.fastq.gz")
    sample = Sample.objects.get(pk=created["sample"]["id"])
    assert sample.status == "ready", sample.rejection_reason
    return sample


def test_a_submitted_sample_runs_and_publishes_verified_outputs(client_for, uploader_for,
                                                               clinician, pipeline_env):
    sample = ready_sample(uploader_for, clinician, pipeline_env)
    client_for(clinician).post(f"/labs/lab-a/samples/{sample.pk}/submit/")

    job = Job.objects.get()
    assert job.status == JobStatus.SUCCEEDED, (job.failed_step, job.error)
    assert (job.pk, job.runner, job.attempts) == (sample.job_id, "local", 1)
    assert [s["process"] for s in job.progress] == pipeline_steps()
    assert {s["status"] for s in job.progress} == {"completed"}

    outputs = {o.path: o for o in job.outputs.all()}
    assert {"bam/TEST1.bam", "bam/TEST1.bam.bai", "vcf/TEST1.vcf.gz", "vcf/TEST1.vcf.gz.tbi",
            "TEST1_Final_.txt", "metadata.json", "pipeline_info/trace.txt",
            "qc/TEST1.fastp.json"} <= set(outputs)
    roles = {path: o.bucket_role for path, o in outputs.items()}
    assert roles["bam/TEST1.bam"] == roles["qc/TEST1.fastp.json"] == "intermediate"
    assert roles["vcf/TEST1.vcf.gz"] == roles["TEST1_Final_.txt"] == roles["metadata.json"] == \
        "results"
    assert roles["pipeline_info/trace.txt"] == "logs"
    for o in outputs.values():
        info = s3.object_info(bucket_name(o.bucket_role), o.key)
        assert info["size"] == o.size and info["metadata"]["sha256"] == o.sha256
        if o.bucket_role != "logs":
            assert o.key.startswith(f"{clinician.lab.pk}/{job.pk}/")
        else:
            assert f"/{job.pk}/" in o.key

    metadata = json.loads(s3.open_object(bucket_name("results"),
                                         outputs["metadata.json"].key).read())
    assert metadata["runner"] == "local"
    assert {metadata["inputs"]["r1"]["sha256"], metadata["inputs"]["r2"]["sha256"]} == \
        {f.sha256 for f in sample.files.all()}
    table = s3.open_object(bucket_name("results"), outputs["TEST1_Final_.txt"].key).read()
    assert table.startswith(b"variant_id\t") and table.count(b"\nWES-") > 10

    started, finished = (AuditEvent.objects.filter(action=a).get()
                         for a in (actions.JOB_STARTED, actions.JOB_SUCCEEDED))
    assert started.actor_id == finished.actor_id == "system"
    assert started.details["on_behalf_of"] == "clinician@lab-a.test"

    page = client_for(clinician).get(f"/labs/lab-a/jobs/{job.pk}/").content.decode()
    assert "Succeeded" in page and "FASTP_QC" in page and "TEST1_Final_.txt" in page


def test_it_fails_with_a_clear_reason_when_the_reference_is_missing(
        client_for, uploader_for, clinician, pipeline_env, settings):
    settings.REFERENCE_BUILD = "no-such-build"
    sample = ready_sample(uploader_for, clinician, pipeline_env)
    client_for(clinician).post(f"/labs/lab-a/samples/{sample.pk}/submit/")
    job = Job.objects.get()
    assert job.status == JobStatus.FAILED and job.failed_step == "staging inputs"
    assert "reference build 'no-such-build' is not in bucket" in job.error
    assert not job.outputs.exists()
