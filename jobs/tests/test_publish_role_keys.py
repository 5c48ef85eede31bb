"""Publishing with the worker key and downloading with the web key, on a real S3 server started
with the identities storage/policies.py generates (one key per storage role)."""

import json
import urllib.request

import pytest
from django.utils import timezone

from jobs.models import Job, Sample
from jobs.results import publishing
from storage import s3
from storage.buckets import bucket_name
from tests import storage_roles
from tests.storage_roles import as_process

pytestmark = pytest.mark.django_db
role_keys, role_server = storage_roles.role_keys, storage_roles.role_server   # the fixtures
HEADER = ("variant_id sample chrom pos ref alt genotype depth allele_depth vaf qual filter gene "
          "transcript consequence hgvs_p hgvs_c protein_change dna_change gnomad_af gnomad_hom "
          "clinvar_significance clinvar_review_status clinvar_id")


def test_the_worker_publishes_and_the_web_signs_the_downloads(role_server, clinician, tmp_path):
    sample = Sample.objects.create(lab=clinician.lab, name="P1", external_id="P-P1", sex="male",
                                   clinical_indication="x", consent_confirmed_at=timezone.now(),
                                   created_by=clinician.user, status="submitted")
    job = Job.objects.create(lab=clinician.lab, sample=sample, submitted_by=clinician.user,
                             status="running")
    out = tmp_path / "out"
    files = {"metadata.json": json.dumps(dict.fromkeys(publishing.METADATA_KEYS, {})),
             "bam/P1.bam": "bam" * 100, "qc/P1.fastp.json": "{}", "vcf/P1.vcf.gz": "vcf",
             "pipeline_info/trace.txt": "task_id\tname\tstatus\n",
             "P1_Final_.txt": "\t".join(HEADER.split()) + "\n"}
    for relative, body in files.items():
        (out / relative).parent.mkdir(parents=True, exist_ok=True)
        (out / relative).write_text(body)

    with as_process("worker"):
        publishing.job_outputs_publish(job, out)
    outputs = list(job.outputs.all())
    assert {o.bucket_role for o in outputs} == {"results", "intermediate", "logs"}
    with as_process("web"):
        for output in outputs:
            url = s3.presign_download(bucket_name(output.bucket_role), output.key,
                                      file_name="x", expires_in=60)
            assert urllib.request.urlopen(url).read() == files[output.path].encode()
        with pytest.raises(s3.StorageError, match="storage role web"):
            s3.put_bytes(bucket_name("results"), outputs[0].key, b"changed",
                         content_type="text/plain")
