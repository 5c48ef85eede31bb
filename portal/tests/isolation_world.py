"""Lab A's objects for the isolation matrix, built directly (no pipeline run, no upload): a ready
sample with its two files, a submitted sample whose job succeeded with an output, one variant and
its classification, a signed report; a gene panel, a filter preset, a pending invitation."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from django.utils import timezone

from jobs.intake import services as intake
from jobs.models import Job, JobOutput, Report, Sample, SampleFile
from jobs.results.variant_table import COLUMNS, load_variants
from jobs.review.classification import classify
from jobs.review.panels import panel_create
from jobs.review.presets import preset_save
from storage import keys
from tenants.services import invitation_create

# Distinctive enough that finding one in a response means lab A's data reached it.
READY_NAME, READY_EXTERNAL_ID = "MTXREADY1", "PSN-MTX-READY-41"
DONE_NAME, DONE_EXTERNAL_ID = "MTXDONE2", "PSN-MTX-DONE-42"


@dataclass
class World:
    ids: dict[str, str] = field(default_factory=dict)     # URL kwarg (or alias) -> value
    markers: dict[str, str] = field(default_factory=dict)  # lab A's identifying strings
    users: dict = field(default_factory=dict)             # persona -> user (None: anonymous)


def _variant_row() -> list[str]:
    cells = dict.fromkeys(COLUMNS, "")
    cells.update(variant_id="WES-0000000000000001", sample=DONE_NAME, chrom="chr1", pos="1000",
                 ref="A", alt="G", genotype="0/1", depth="40", allele_depth="20,20", vaf="0.5",
                 qual="99", filter="PASS", gene="GENE1", transcript="T1", consequence="missense")
    return ["\t".join(COLUMNS) + "\n", "\t".join(cells[c] for c in COLUMNS) + "\n"]


def build(*, manager, clinician) -> World:
    lab, now = manager.lab, timezone.now()
    ready = intake.sample_create(
        membership=clinician, files={1: (f"{READY_NAME}_R1.fastq.gz", 100),
                                     2: (f"{READY_NAME}_R2.fastq.gz", 100)},
        data={"name": READY_NAME, "external_id": READY_EXTERNAL_ID, "sex": "female",
              "clinical_indication": "Developmental delay"})
    ready.files.update(status="verified", sha256="a" * 64, uploaded_at=now)
    Sample.objects.filter(pk=ready.pk).update(status="ready")
    file_r1 = SampleFile.objects.get(sample=ready, read=1)

    done = Sample.objects.create(lab=lab, name=DONE_NAME, external_id=DONE_EXTERNAL_ID,
                                 sex="male", clinical_indication="Cardiomyopathy",
                                 consent_confirmed_at=now, created_by=clinician.user,
                                 status="submitted")
    job = Job.objects.create(id=done.job_id, lab=lab, sample=done, status="succeeded",
                             submitted_by=clinician.user, started_at=now, finished_at=now,
                             runner="local", attempts=1)
    output = JobOutput.objects.create(
        lab=lab, job=job, path="metadata.json", bucket_role="results",
        key=keys.job_output_key(lab, job.pk, "metadata.json"), size=2,
        sha256=hashlib.sha256(b"{}").hexdigest(), verified_at=now)
    load_variants(job=job, lines=_variant_row())
    variant = job.variants.get()
    classify(membership=manager, variant=variant, criteria={}, final_class="uncertain",
             comment="")
    digest = "b" * 64
    report = Report.objects.create(
        lab=lab, job=job, version=1, status="signed_out", drafted_at=now,
        draft_key=keys.report_key(lab, job.pk, DONE_NAME, 1, signed=False, sha256=digest),
        draft_sha256=digest, draft_size=1, signed_by=manager.user, signed_at=now,
        signed_key=keys.report_key(lab, job.pk, DONE_NAME, 1, signed=True, sha256=digest),
        signed_sha256=digest, signed_size=1, meaning="Reviewed and approved")
    panel = panel_create(membership=manager, name="Cardio", genes="GENE1").panel
    preset = preset_save(membership=manager, name="Rare", query="impact=HIGH")
    invitation, token = invitation_create(membership=manager, email="new@lab-a.test",
                                          role="clinician")

    ids = {"lab_slug": lab.slug, "sample_id": str(done.pk), "ready_sample_id": str(ready.pk),
           "file_id": str(file_r1.pk), "job_id": str(job.pk), "report_id": str(report.pk),
           "variant_pk": variant.pk, "panel_id": str(panel.pk), "preset_id": str(preset.pk),
           "output_id": str(output.pk), "member_id": str(manager.pk),
           "invitation_id": str(invitation.pk), "token": token, "part_number": 1}
    markers = {"lab name": lab.name, "ready sample": READY_NAME,
               "ready sample's identifier": READY_EXTERNAL_ID, "sample": DONE_NAME,
               "sample's identifier": DONE_EXTERNAL_ID, "ready sample's id": str(ready.pk),
               "sample's id": str(done.pk), "job id": str(job.pk), "report id": str(report.pk),
               "file id": str(file_r1.pk), "output id": str(output.pk)}
    return World(ids=ids, markers=markers)
