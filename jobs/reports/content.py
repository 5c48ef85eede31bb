"""What goes into a report PDF, read from the database rows and the run's metadata.json.

The renderer (jobs/reports/pdf.py) sees only the ReportContent built here, so what a report says
is decided in one place and the renderer can be tested without a database.
"""

from __future__ import annotations

from jobs.models import Job, Report
from jobs.reports.pdf import QCFigure, ReportContent, ReportVariant, Signature
from jobs.results.qc import qc_rows
from jobs.results.variants import reportable_variants

# Run parameters that name input files or machine resources: they do not describe the method.
NOT_METHOD_PARAMETERS = {"sample", "r1", "r2", "reference", "targets", "annotation", "outdir",
                         "known_sites", "max_cpus"}


def _qc_table(qc: dict) -> tuple[QCFigure, ...]:
    """The job's QC rows (jobs/results/qc.py, the same as the job page) as the PDF's table."""
    return tuple(QCFigure(row["label"], row["display"], row["status"] or "", row["threshold"])
                 for row in qc_rows(qc))


def _pipeline(metadata: dict) -> str:
    pipeline = metadata.get("pipeline") or {}
    if isinstance(pipeline, dict) and pipeline.get("version"):
        return f"{pipeline.get('name') or 'pipeline'} {pipeline['version']}"
    return ""


def build_report_content(*, job: Job, report: Report, metadata: dict,
                         signature: Signature | None = None) -> ReportContent:
    """The content of one report version. Without a signature it is a draft; with one, the
    signed version, generated at the moment of signing."""
    sample = job.sample
    reference = metadata.get("reference") or {}
    parameters = {k: v for k, v in (metadata.get("parameters") or {}).items()
                  if k not in NOT_METHOD_PARAMETERS and v not in (None, "")}
    variants = tuple(
        ReportVariant(variant_id=v.variant_id, chrom=v.chrom, pos=v.pos, ref=v.ref, alt=v.alt,
                      gene=v.gene, transcript=v.transcript, hgvs_c=v.hgvs_c, hgvs_p=v.hgvs_p,
                      consequence=v.consequence, impact=v.impact, genotype=v.genotype,
                      depth=v.depth, vaf=v.vaf)
        for v in reportable_variants(job))
    return ReportContent(
        lab_name=job.lab.name, sample_name=sample.name, external_id=sample.external_id,
        sex=sample.get_sex_display(), clinical_indication=sample.clinical_indication,
        hpo_terms=tuple(sample.hpo_terms or ()), job_id=str(job.pk),
        received_at=sample.created_at, analysed_at=job.finished_at,
        generated_at=signature.signed_at if signature else report.created_at,
        report_version=report.version,
        pipeline_version=_pipeline(metadata), runner=metadata.get("runner") or job.runner,
        reference_build=reference.get("build") or "", tools=dict(metadata.get("tools") or {}),
        parameters=parameters, qc=_qc_table(job.qc), variants=variants,
        interpretation=report.interpretation,
        amends_version=report.amends.version if report.amends_id else None,
        amendment_reason=report.amendment_reason, signature=signature)
