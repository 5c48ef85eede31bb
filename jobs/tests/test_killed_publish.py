"""A worker killed while publishing leaves objects in storage that no ledger row records; the
nightly reconciliation finds every one of them and names it, and a retry records them."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.models import Job, Sample
from jobs.records import reconciliation
from jobs.results import publishing

pytestmark = pytest.mark.django_db


class WorkerKilled(Exception):
    pass


def test_objects_a_killed_publish_left_are_found_and_named(provisioned_s3, clinician, tmp_path,
                                                          monkeypatch):
    sample = Sample.objects.create(lab=clinician.lab, name="K1", external_id="P-K1", sex="male",
                                   clinical_indication="x", consent_confirmed_at=timezone.now(),
                                   created_by=clinician.user, status="submitted")
    job = Job.objects.create(lab=clinician.lab, sample=sample, submitted_by=clinician.user,
                             status="running")
    out = tmp_path / "out"
    for relative, body in {"metadata.json": json.dumps(dict.fromkeys(publishing.METADATA_KEYS, {})),
                           "bam/K1.bam": "bam" * 100, "qc/K1.fastp.json": "{}",
                           "vcf/K1.vcf.gz": "vcf", "pipeline_info/trace.txt": "task_id\tname\tstatus\n"
                           }.items():
        (out / relative).parent.mkdir(parents=True, exist_ok=True)
        (out / relative).write_text(body)

    def killed(**kwargs):
        raise WorkerKilled

    with monkeypatch.context() as patch:          # every file uploaded, then the worker dies
        patch.setattr(publishing, "outputs_record", killed)
        with pytest.raises(WorkerKilled):
            publishing.job_outputs_publish(job, out)
    monkeypatch.setattr(reconciliation, "RECENT", timedelta(0))

    run = reconciliation.storage_reconcile(trigger="test")
    assert run.unrecorded_count == 5
    named = {entry["key"] for snapshot in run.snapshots.all()
             for entry in snapshot.unrecorded_sample}
    assert {key.rsplit("/", 1)[-1] for key in named} == {
        "metadata.json", "K1.bam", "K1.fastp.json", "K1.vcf.gz", "trace.txt"}

    # The retry finds the objects already stored (same digests) and records them.
    published = [publishing._publish_one(job, out, path) for path in sorted(out.rglob("*"))
                 if path.is_file()]
    publishing.outputs_record(job=job, published=published,
                              trace_path=out / "pipeline_info" / "trace.txt")
    assert reconciliation.storage_reconcile(trigger="test").unrecorded_count == 0
