import hashlib
import io
import os
import re
import shutil
import subprocess
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from pypdf import PdfReader

from jobs.models import (Classification, GeneCoverage, GenePanel, GenePanelVersion, Impact, Job,
                         JobStatus, Report, Sample, SampleStatus, Variant, VariantSelection)
from jobs.reports.content import build_report_content
from jobs.reports.pdf import render_report_pdf
from jobs.results.variant_table import gene_sort_key
from jobs.reports.report_data import (DEFAULT_LIMITATIONS, DRAFT_BANNER, PanelSummary, QCFigure,
                                      ReportContent, ReportVariant, Signature)
from tests.helpers import ARTIFACTS

GENERATED = datetime(2025, 3, 4, 9, 0, tzinfo=timezone.utc)
APPROVED_SHA256 = hashlib.sha256(b"the approved draft").hexdigest()
SECTIONS = ["Result", "Interpretation", "Sample and request", "Clinical indication",
            "Reported variants", "Quality control", "Methods", "Limitations", "Sign-out"]


def variant(i: int, **fields) -> ReportVariant:
    return ReportVariant(**{
        "variant_id": f"WES-{i:06d}", "chrom": "chr7", "pos": 117559590 + i, "ref": "G",
        "alt": "A", "gene": f"GENE{i}", "transcript": "ENST00000003084.11",
        "hgvs_c": f"c.{1000 + i}G>A", "hgvs_p": "p.(Gly542Ter)", "consequence": "stop_gained",
        "impact": "HIGH", "genotype": "0/1", "depth": 40 + i, "vaf": 0.47,
        "gnomad_af": 0.000012, "gnomad_hom": 0, "clinvar": "Pathogenic (reviewed by expert panel)",
        "classification": "Pathogenic", "criteria": ("PVS1", "PM2 (supporting)"), **fields})


def content(**fields) -> ReportContent:
    return ReportContent(**{
        "lab_name": "Lab A Genomics", "sample_name": "TEST1", "external_id": "PSN-0042",
        "sex": "Female", "clinical_indication": "Early-onset epilepsy with developmental delay",
        "hpo_terms": ("HP:0001250", "HP:0001263"),
        "job_id": "6f1c2d1e-1111-2222-3333-444455556666", "generated_at": GENERATED,
        "received_at": GENERATED - timedelta(days=3), "analysed_at": GENERATED - timedelta(days=1),
        "pipeline_version": "wes-portal/wes-pipeline 0.1.0", "runner": "local",
        "reference_build": "GRCh38",
        "tools": {"fastp": "0.23.2", "bwa": "0.7.17-r1188", "samtools": "1.16.1",
                  "bcftools": "1.16"},
        "parameters": {"min_qual": 20, "min_depth": 10, "caller": "bcftools"},
        "qc": (QCFigure("Reads before filtering", "2,000,000 reads"),
               QCFigure("Targets with mean depth ≥ 20×", "88.00%", "warn", "≥ 90.00%")),
        "variants": (variant(1, gene="CFTR", hgvs_p="p.(Gly542Ter)"),
                     variant(2, gene="SCN1A", impact="MODERATE", consequence="missense_variant",
                             hgvs_c="c.5054C>A", hgvs_p="p.(Ala1685Asp)")),
        "interpretation": "A heterozygous SCN1A variant consistent with the phenotype.",
        **fields})


def signature(**fields) -> Signature:
    return Signature(**{
        "signer": "Maria Manager", "signer_email": "manager@lab-a.test",
        "signed_at": GENERATED + timedelta(hours=2), "meaning": "Reviewed and approved",
        "version": 1, "approved_sha256": APPROVED_SHA256, "comment": "Checked against IGV.",
        **fields})


def pages_text(pdf: bytes) -> list[str]:
    # Extraction may break a line anywhere; compare with whitespace collapsed.
    reader = PdfReader(io.BytesIO(pdf))
    return [re.sub(r"\s+", " ", page.extract_text()) for page in reader.pages]


def test_it_prints_every_section_the_identifiers_and_the_variants_of_a_draft():
    pdf = render_report_pdf(content())
    assert pdf.startswith(b"%PDF-")
    text = " ".join(pages_text(pdf))
    for expected in SECTIONS + [
            "Lab A Genomics", "Whole-exome sequencing report", "TEST1", "PSN-0042", "Female",
            "6f1c2d1e-1111-2222-3333-444455556666", "Early-onset epilepsy with developmental delay",
            "HP:0001250, HP:0001263", "2025-03-01", "2025-03-03", "2025-03-04 09:00 UTC",
            "CFTR", "ENST00000003084.11", "c.1001G>A", "p.(Gly542Ter)", "WES-000001",
            "chr7:117559591 G>A", "SCN1A", "p.(Ala1685Asp)", "missense_variant", "MODERATE",
            "heterozygous", "0/1, DP 42, VAF 0.47", "1.20e-05", "0 hom",
            "Pathogenic (reviewed by expert panel)", "PVS1, PM2 (supporting)",
            "Pathogenic variant in CFTR; Pathogenic variant in SCN1A.", "2 primary findings",
            "A heterozygous SCN1A variant consistent with the phenotype.",
            "Reads before filtering", "2,000,000 reads",
            "Targets with mean depth ≥ 20× 88.00% ≥ 90.00% WARN",
            "wes-portal/wes-pipeline 0.1.0", "GRCh38", "bwa", "0.7.17-r1188", "samtools",
            "caller = bcftools, min_depth = 10, min_qual = 20",
            "Copy-number variants, structural rearrangements, repeat expansions",
            "mosaicism", DRAFT_BANNER.upper(), "Awaiting sign-out", "Page 1 of"]:
        assert expected in text, expected


def test_it_marks_every_page_of_a_draft_and_no_page_of_a_signed_version():
    many = tuple(variant(i) for i in range(60))
    draft = pages_text(render_report_pdf(content(variants=many)))
    signed = pages_text(render_report_pdf(content(variants=many, signature=signature())))
    assert len(draft) > 1 and len(signed) > 1
    assert all(DRAFT_BANNER in page for page in draft)
    assert not any("DRAFT" in page or "Awaiting sign-out" in page for page in signed)
    assert all("Signed out 2025-03-04" in page for page in signed)
    # Identifiers on every page, so a loose page can be matched to its report.
    assert all("Sample TEST1" in page and "ID PSN-0042 | Report v1" in page
               for page in draft + signed)


def test_it_prints_the_signature_block_with_the_approved_draft_sha256():
    text = " ".join(pages_text(render_report_pdf(content(signature=signature()))))
    for expected in ["Signed out 2025-03-04 11:00 UTC by Maria Manager: Reviewed and approved.",
                     "Electronically signed - Reviewed and approved",
                     "Signed by: Maria Manager <manager@lab-a.test>",
                     "Signed at: 2025-03-04 11:00 UTC", "Report version: 1",
                     "Comment: Checked against IGV.", "SHA-256 of the approved draft PDF:",
                     APPROVED_SHA256]:
        assert expected in text, expected


def test_it_renders_the_same_bytes_for_the_same_content():
    report = content(signature=signature())
    first, second = render_report_pdf(report), render_report_pdf(report)
    assert first == second
    # The creation date is the report's, not the clock's.
    assert PdfReader(io.BytesIO(first)).metadata.creation_date.replace(tzinfo=timezone.utc) \
        == GENERATED
    later = render_report_pdf(replace(report, generated_at=GENERATED + timedelta(days=1)))
    assert later != first


def test_it_spreads_300_variants_over_pages_with_the_header_row_on_each():
    many = tuple(variant(i) for i in range(300))
    pages = pages_text(render_report_pdf(content(variants=many)))
    total = len(pages)
    assert total >= 8
    assert [f"Page {n} of {total}" in page for n, page in enumerate(pages, 1)] == [True] * total
    with_variants = [page for page in pages if "WES-0" in page]
    assert len(with_variants) >= 8
    assert all("Gene / transcript / position" in page and "Classification / criteria" in page
               for page in with_variants)
    found = re.findall(r"WES-\d{6}", " ".join(pages))
    assert sorted(found) == [f"WES-{i:06d}" for i in range(300)]
    assert "300 variants reported: see Reported variants." in pages[0]
    assert "300 primary findings" in pages[0]
    assert "Sign-out" in pages[-1]


def test_it_says_so_when_there_are_no_reportable_variants():
    text = " ".join(pages_text(render_report_pdf(content(variants=()))))
    assert "Result No reportable variants were identified." in text
    assert "A negative result depends on the coverage of the genes examined" in text
    assert "Gene / transcript" not in text


def test_a_panel_scopes_a_negative_result_and_its_coverage_is_in_the_methods():
    panel = PanelSummary(name="Epilepsy v2", genes=3, pct_20x=97.4,
                         below_100=("SCN1A (92.5%)", "KCNQ2 (not measured)"))
    pages = pages_text(render_report_pdf(content(variants=(), panel=panel)))
    assert "No reportable variants were identified in the genes of the panel Epilepsy v2." \
        in pages[0]
    text = " ".join(pages)
    assert ("Gene panel: Epilepsy v2 (3 genes); 97.4% of its genes' coding bases were covered "
            "at 20x or more. Genes not fully covered at 20x: SCN1A (92.5%), KCNQ2 (not "
            "measured).") in text


def test_it_puts_the_result_and_interpretation_on_page_one_and_sources_in_the_methods():
    many = tuple(variant(i) for i in range(2)) + (
        variant(9, category="secondary", gene="BRCA2", classification="Likely pathogenic",
                comment="Reported with the patient's consent to secondary findings."),)
    pages = pages_text(render_report_pdf(content(
        variants=many, result_summary="Pathogenic CFTR variant explains the phenotype.",
        sources=(("gnomAD", "4.1", "ab" * 32), ("ClinVar", "2026-11-30", "cd" * 32)))))
    assert "Result Pathogenic CFTR variant explains the phenotype." in pages[0]
    assert "2 primary findings, 1 secondary finding." in pages[0]
    assert "Interpretation A heterozygous SCN1A variant" in pages[0]
    text = " ".join(pages)
    assert text.index("Primary findings") < text.index("Secondary findings")
    assert "BRCA2 c.1009G>A: Reported with the patient's consent to secondary findings." in text
    assert "gnomAD 4.1 abababababababab…" in text and "ClinVar 2026-11-30" in text


def test_the_result_and_interpretation_come_first_and_qc_methods_after_however_long():
    """A long request (indication, 14 HPO terms), 34 variants and a 39-gene coverage note: the
    reader still finds the result and the whole interpretation at the top of page 1, and a
    findings heading is never left at the foot of a page without its table."""
    variants = tuple(variant(i, gene=f"SIM{i}", comment="Segregation not tested." if i % 3 == 0
                             else "") for i in range(1, 31)) + tuple(
        variant(i, gene=f"BRCA{i}", category="secondary") for i in range(40, 44))
    interpretation = ("The heterozygous SIM3 stop-gain is absent from gnomAD and predicted to "
                      "cause loss of function.\n\nParental testing is recommended to establish "
                      "whether it arose de novo.")
    pages = pages_text(render_report_pdf(content(
        variants=variants, interpretation=interpretation,
        result_summary="Likely pathogenic variant in SIM3, consistent with the phenotype.",
        panel=PanelSummary("Epilepsy v3", 120, 96.2,
                           tuple(f"SIM{i} (9{i % 10}.5%)" for i in range(1, 40))),
        clinical_indication="Early-onset epilepsy with developmental delay, hypotonia and "
                            "feeding difficulties since birth; a brother with similar features.",
        hpo_terms=tuple(f"HP:000{1200 + i}" for i in range(14)))))
    assert len(pages) >= 4
    first = pages[0]
    assert first.index("Result Likely pathogenic variant in SIM3") < first.index(
        "Interpretation The heterozygous SIM3 stop-gain") < first.index("Sample and request")
    assert "whether it arose de novo." in first
    text = " ".join(pages)
    order = [text.index(s) for s in ("Reported variants", "Quality control", "Methods",
                                     "Limitations", "Sign-out")]
    assert order == sorted(order) and text.index("Sample and request") < order[0]
    secondary = next(n for n, page in enumerate(pages) if "Secondary findings" in page)
    assert "BRCA40" in pages[secondary]


def test_it_states_what_an_amendment_replaces_and_why():
    text = " ".join(pages_text(render_report_pdf(content(
        report_version=2, amends_version=1, amendment_reason="Segregation result added",
        signature=signature(version=2)))))
    assert "Amended report: version 2 replaces version 1." in text
    assert "Reason for amendment: Segregation result added" in text


def test_line_breaks_a_browser_sends_are_breaks_not_question_marks():
    text = " ".join(pages_text(render_report_pdf(content(
        interpretation="Line one.\r\nLine two.\r\n\r\nParagraph two.",
        signature=signature(comment="Reviewed.\r\nAgreed.")))))
    assert "Line one. Line two. Paragraph two." in text and "?" not in text
    assert "Comment: Reviewed. Agreed." in text


def test_it_shows_a_question_mark_for_characters_the_font_lacks():
    text = " ".join(pages_text(render_report_pdf(content(
        clinical_indication="Suspected β-thalassaemia, Hb ≥ 7 g/dl <check>"))))
    assert "Suspected ?-thalassaemia, Hb ≥ 7 g/dl <check>" in text


def test_it_shortens_long_alleles_in_the_position_column():
    long_alt = "G" + "ACGT" * 20
    text = " ".join(pages_text(render_report_pdf(content(variants=(variant(1, alt=long_alt),)))))
    assert "chr7:117559591 G>GACGTACGTACG...(81 bp)" in text


def test_it_keeps_long_identifiers_whole_in_the_page_header():
    name, external_id = "S" * 30 + "-" + "9" * 33, "PSN:" + "0123456789" * 6
    text = pages_text(render_report_pdf(content(
        sample_name=name, external_id=external_id, lab_name="Institute of Genomic Medicine " * 7)))
    assert all(f"Sample {name}" in page and f"ID {external_id} | Report v1" in page
               for page in text)


def render_pages(pdf: bytes, name: str, workdir) -> list:
    """Each page as test-artifacts/{name}-page{n}.png (and the PDF as {name}.pdf), to look at."""
    if shutil.which("pdftoppm") is None:
        if os.environ.get("CI"):
            pytest.fail("pdftoppm is not installed; scripts/bootstrap installs poppler-utils")
        pytest.skip("pdftoppm is not installed (poppler-utils)")
    ARTIFACTS.mkdir(exist_ok=True)
    for old in ARTIFACTS.glob(f"{name}-page*.png"):
        old.unlink()
    source = ARTIFACTS / f"{name}.pdf"
    source.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "80", "-png", str(source), str(workdir / "page")],
                   check=True, capture_output=True)
    # pdftoppm names pages page-1.png or page-01.png, by the page count's width.
    pages = sorted(workdir.glob("page-*.png"), key=lambda p: int(p.stem.split("-")[1]))
    return [shutil.move(png, ARTIFACTS / f"{name}-page{n}.png") for n, png in enumerate(pages, 1)]


def test_it_renders_draft_and_signed_pages_to_images(tmp_path):
    many = tuple(variant(i, gene=f"GENE{i % 40}") for i in range(25))
    (tmp_path / "draft").mkdir()
    (tmp_path / "signed").mkdir()
    draft = render_pages(render_report_pdf(content(variants=many)), "report-draft",
                         tmp_path / "draft")
    signed = render_pages(render_report_pdf(content(variants=many, signature=signature())),
                          "report-signed", tmp_path / "signed")
    assert len(draft) == len(signed) >= 2
    assert [p.name for p in draft] == [f"report-draft-page{n}.png" for n in
                                       range(1, len(draft) + 1)]
    for png in draft + signed:
        assert png.read_bytes().startswith(b"\x89PNG") and png.stat().st_size > 20_000


@pytest.fixture
def finished_job(manager):
    sample = Sample.objects.create(
        lab=manager.lab, name="TEST1", external_id="PSN-0042", sex="female",
        clinical_indication="Early-onset epilepsy", hpo_terms=["HP:0001250"],
        consent_confirmed_at=GENERATED - timedelta(days=4), status=SampleStatus.SUBMITTED,
        created_by=manager.user, created_at=GENERATED - timedelta(days=3))
    job = Job.objects.create(
        id=sample.job_id, lab=manager.lab, sample=sample, submitted_by=manager.user,
        status=JobStatus.SUCCEEDED, runner="local", finished_at=GENERATED - timedelta(days=1),
        qc=QC_SUMMARY)
    rows = [  # (variant_id, gene, filter, impact)
        ("v1", "SCN1A", "PASS", Impact.MODERATE), ("v2", "CFTR", "PASS", Impact.HIGH),
        ("v3", "ABCA4", "PASS", Impact.MODERATE), ("v4", "BRCA2", "LowQual", Impact.HIGH),
        ("v5", "TTN", "PASS", Impact.LOW), ("v6", "MUC16", "PASS", Impact.MODIFIER),
        ("v7", "ZNF1", "PASS", Impact.HIGH)]
    for i, (vid, gene, filt, impact) in enumerate(rows):
        Variant.objects.create(lab=manager.lab, job=job, variant_id=vid, chrom="chr1", pos=100 + i,
                               ref="C", alt="T", genotype="0/1", depth=30, vaf=0.5, filter=filt,
                               gene=gene, gene_sort=gene_sort_key(gene),
                               transcript=f"ENST{i:011d}.1", impact=impact,
                               consequence="missense_variant", hgvs_c=f"c.{i}C>T")
    return job


QC_SUMMARY = {  # as the pipeline's QC_SUMMARY step writes it (schema wes-portal/qc/1)
    "schema": "wes-portal/qc/1", "sample": "TEST1", "reads_before_filtering": 2000000,
    "reads_after_filtering": 1987654, "q30_rate_before": 0.9021, "q30_rate_after": 0.9312,
    "mapped_pct": 99.1, "properly_paired_pct": 98.2, "duplication_pct": 4.25,
    "mean_target_depth": 52.34, "pct_targets_ge_20x": 88.0, "pct_target_bases_ge_20x": 91.5,
    "targets": 120, "target_bases": 36000,
    "thresholds": {"pct_targets_ge_20x": {"min": 90}, "mapped_pct": {"min": 95}},
    "status": {"pct_targets_ge_20x": "warn", "mapped_pct": "pass"}, "overall": "warn"}
METADATA = {
    "schema": "wes-portal/metadata/1", "runner": "local",
    "reference": {"build": "wes-mini", "path": "ref.fa", "sha256": "0" * 64, "size": 10},
    "tools": {"fastp": "0.23.2", "bwa": "0.7.17-r1188", "gatk": None},
    "parameters": {"sample": "TEST1", "r1": "/work/TEST1_R1.fastq.gz", "outdir": "results",
                   "caller": "bcftools", "min_qual": 20, "known_sites": None, "max_cpus": 2},
}


@pytest.mark.django_db
def test_it_builds_the_content_from_the_job_rows_and_metadata(finished_job):
    lab, user = finished_job.lab, finished_job.submitted_by
    panel = GenePanel.objects.create(lab=lab, name="Epilepsy")
    version = GenePanelVersion.objects.create(panel=panel, version=2,
                                              genes=["CFTR", "KCNQ2", "SCN1A"])
    GeneCoverage.objects.create(job=finished_job, gene="CFTR", transcript="T1", bases=1000,
                                bases_20x=1000, pct_20x=100.0)
    GeneCoverage.objects.create(job=finished_job, gene="SCN1A", transcript="T2", bases=3000,
                                bases_20x=2775, pct_20x=92.5)
    by_id = {v.variant_id: v for v in finished_job.variants.all()}
    for vid, final, category in (("v2", "pathogenic", "primary"), ("v1", "uncertain", "primary"),
                                 ("v4", "likely_pathogenic", "secondary")):
        v = by_id[vid]
        Classification.objects.create(
            lab=lab, chrom=v.chrom, pos=v.pos, ref=v.ref, alt=v.alt, job=finished_job,
            criteria={"PVS1": "very_strong", "PM2": "supporting"}, suggested_class=final,
            final_class=final, comment=f"comment on {vid}", classified_by=user)
        VariantSelection.objects.create(lab=lab, job=finished_job, variant=v, category=category,
                                        selected_by=user)
    report = Report.objects.create(lab=finished_job.lab, job=finished_job, version=1,
                                   interpretation="Likely explains the phenotype.",
                                   panel_version=version)
    metadata = {**METADATA, "annotation_sources": {
        "gnomad": {"name": "gnomAD", "version": "4.1", "sha256": "a" * 64},
        "clinvar": {"name": "ClinVar", "version": "20261130", "sha256": "b" * 64}}}
    built = build_report_content(job=finished_job, report=report, metadata=metadata)
    assert (built.lab_name, built.sample_name, built.external_id, built.sex) == (
        "Lab A Genomics", "TEST1", "PSN-0042", "Female")
    assert built.hpo_terms == ("HP:0001250",) and built.job_id == str(finished_job.pk)
    assert (built.received_at, built.analysed_at, built.generated_at) == (
        GENERATED - timedelta(days=3), GENERATED - timedelta(days=1), report.created_at)
    # Only the selected variants: primary findings first (by gene), then secondary ones.
    assert [(v.variant_id, v.category, v.classification) for v in built.variants] == [
        ("v2", "primary", "Pathogenic"), ("v1", "primary", "Uncertain significance"),
        ("v4", "secondary", "Likely pathogenic")]
    assert built.variants[0].gene == "CFTR" and built.variants[0].location == "chr1:101 C>T"
    assert built.variants[0].criteria == ("PVS1", "PM2 (supporting)")
    assert built.variants[0].comment == "comment on v2"
    assert built.panel == PanelSummary(name="Epilepsy v2", genes=3, pct_20x=94.4,
                                       below_100=("KCNQ2 (not measured)", "SCN1A (92.5%)"))
    assert built.sources == (("ClinVar", "20261130", "b" * 64), ("gnomAD", "4.1", "a" * 64))
    assert (built.runner, built.reference_build) == ("local", "wes-mini")
    assert built.tools == {"fastp": "0.23.2", "bwa": "0.7.17-r1188", "gatk": None}
    assert built.parameters == {"caller": "bcftools", "min_qual": 20}
    # The figures, labels and units of jobs/results/qc.py (as on the job page), in its order.
    assert list(built.qc) == [
        QCFigure("Reads before filtering", "2,000,000 reads"),
        QCFigure("Reads after filtering", "1,987,654 reads"),
        QCFigure("Bases ≥ Q30 before filtering", "90.2%"),
        QCFigure("Bases ≥ Q30 after filtering", "93.1%"),
        QCFigure("Reads mapped", "99.10%", "pass", "≥ 95.00%"),
        QCFigure("Reads properly paired", "98.20%"),
        QCFigure("Duplicate reads", "4.25%"),
        QCFigure("Mean target depth", "52.3×"),
        QCFigure("Targets with mean depth ≥ 20×", "88.00%", "warn", "≥ 90.00%"),
        QCFigure("Target bases ≥ 20×", "91.50%")]
    assert built.is_draft and built.amends_version is None
    assert built.limitations == DEFAULT_LIMITATIONS
    text = " ".join(pages_text(render_report_pdf(built)))
    assert "PSN-0042" in text and "Likely explains the phenotype." in text and "v4" in text
    assert "v7" not in text and "v3" not in text
    assert "Targets with mean depth ≥ 20× 88.00% ≥ 90.00% WARN" in text
    assert "/work/TEST1_R1.fastq.gz" not in text


@pytest.mark.django_db
def test_it_builds_a_signed_amendment_generated_at_signing(finished_job):
    first = Report.objects.create(lab=finished_job.lab, job=finished_job, version=1,
                                  status="superseded")
    amended = Report(lab=finished_job.lab, job=finished_job, version=2, amends=first,
                     amendment_reason="Segregation result added")
    signed = signature(version=2)
    built = build_report_content(job=finished_job, report=amended, metadata=METADATA,
                                 signature=signed)
    assert (built.report_version, built.amends_version, built.amendment_reason) == (
        2, 1, "Segregation result added")
    assert built.signature == signed and built.generated_at == signed.signed_at
    assert not built.is_draft
