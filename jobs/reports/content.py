"""What goes into a report PDF, read from the database rows and the run's metadata.json.

The renderer (jobs/reports/pdf.py) sees only the ReportContent built here, so what a report says
is decided in one place and the renderer can be tested without a database.
"""

from __future__ import annotations

from jobs.models import Job, Report
from jobs.reports.report_data import (PanelSummary, QCFigure, ReportContent, ReportVariant,
                                      Signature)
from jobs.results.qc import qc_rows
from jobs.review.acmg import CLASSES, criteria_labels
from jobs.review.panels import panel_coverage
from jobs.review.selection import selected_variants

# Run parameters that name input files or machine resources: they do not describe the method.
NOT_METHOD_PARAMETERS = {"sample", "r1", "r2", "reference", "targets", "annotation", "outdir",
                         "known_sites", "max_cpus", "snpeff_db", "canonical", "gnomad",
                         "gnomad_version", "clinvar", "clinvar_version"}  # sources: own table


def _qc_table(qc: dict) -> tuple[QCFigure, ...]:
    """The job's QC rows (jobs/results/qc.py, the same as the job page) as the PDF's table."""
    return tuple(QCFigure(row["label"], row["display"], row["status"] or "", row["threshold"])
                 for row in qc_rows(qc))


def _pipeline(metadata: dict) -> str:
    pipeline = metadata.get("pipeline") or {}
    if isinstance(pipeline, dict) and pipeline.get("version"):
        return f"{pipeline.get('name') or 'pipeline'} {pipeline['version']}"
    return ""


def _report_variant(v) -> ReportVariant:
    c = v.classification
    clinvar = v.clinvar_significance
    if clinvar and v.clinvar_review_status:
        clinvar = f"{clinvar} ({v.clinvar_review_status.replace('_', ' ')})"
    return ReportVariant(
        variant_id=v.variant_id, chrom=v.chrom, pos=v.pos, ref=v.ref, alt=v.alt, gene=v.gene,
        transcript=v.transcript, hgvs_c=v.hgvs_c or v.dna_change,
        hgvs_p=v.hgvs_p or v.protein_change, consequence=v.consequence, impact=v.impact,
        genotype=v.genotype, depth=v.depth, vaf=v.vaf, category=v.category,
        gnomad_af=v.gnomad_af, gnomad_hom=v.gnomad_hom, clinvar=clinvar,
        classification=dict(CLASSES).get(c.final_class, "") if c else "",
        criteria=criteria_labels(c.criteria) if c else (), comment=c.comment if c else "")


def panel_summary(job: Job, panel_version) -> PanelSummary | None:
    coverage = panel_coverage(job, panel_version)
    if coverage is None:
        return None
    below = tuple(f"{g['gene']} ({g['coverage'].pct_20x}%)" if g["coverage"] else
                  f"{g['gene']} (not measured)"
                  for g in coverage["below"]) if coverage["measured"] else ()
    return PanelSummary(name=str(panel_version), genes=len(panel_version.genes),
                        pct_20x=coverage["pct_20x"], below_100=below)


def _sources(metadata: dict) -> tuple[tuple[str, str, str], ...]:
    sources = metadata.get("annotation_sources") or {}
    if not isinstance(sources, dict):
        return ()
    return tuple((str(s.get("name") or key), str(s.get("version") or ""),
                  str(s.get("sha256") or ""))
                 for key, s in sorted(sources.items()) if isinstance(s, dict))


def build_report_content(*, job: Job, report: Report, metadata: dict, rows=None,
                         signature: Signature | None = None) -> ReportContent:
    """The content of one report version. Without a signature it is a draft; with one, the
    signed version, generated at the moment of signing. `rows` are the job's selected variants
    (jobs.review.selection.selected_variants) when the caller has them already."""
    sample = job.sample
    reference = metadata.get("reference") or {}
    parameters = {k: v for k, v in (metadata.get("parameters") or {}).items()
                  if k not in NOT_METHOD_PARAMETERS and v not in (None, "")}
    rows = selected_variants(job) if rows is None else rows
    variants = tuple(_report_variant(v) for v in rows)
    return ReportContent(
        lab_name=job.lab.name, sample_name=sample.name, external_id=sample.external_id,
        sex=sample.get_sex_display(), clinical_indication=sample.clinical_indication,
        hpo_terms=tuple(sample.hpo_terms or ()), job_id=str(job.pk),
        received_at=sample.created_at, analysed_at=job.finished_at,
        generated_at=signature.signed_at if signature else (report.drafted_at or
                                                            report.created_at),
        report_version=report.version,
        pipeline_version=_pipeline(metadata), runner=metadata.get("runner") or job.runner,
        reference_build=reference.get("build") or "", tools=dict(metadata.get("tools") or {}),
        parameters=parameters, qc=_qc_table(job.qc), variants=variants,
        result_summary=report.result_summary, panel=panel_summary(job, report.panel_version),
        sources=_sources(metadata), interpretation=report.interpretation,
        amends_version=report.amends.version if report.amends_id else None,
        amendment_reason=report.amendment_reason, signature=signature)
