"""What a report says, as plain data: the content jobs/reports/content.py builds from the database
and jobs/reports/pdf.py draws, and the report's fixed wording."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

DRAFT_BANNER = "DRAFT - not for clinical use"
AWAITING_SIGN_OUT = "Awaiting sign-out"
DEFAULT_TITLE = "Whole-exome sequencing report"
SELECTION_RULE = ("Variants the reviewing scientist selected for reporting after filtering the "
                  "sample's calls and classifying them by the ACMG/AMP 2015 criteria; primary "
                  "findings first, then secondary findings.")
NO_VARIANTS = "No reportable variants were identified"
DEFAULT_LIMITATIONS = (
    "This test examines the protein-coding regions (exome) targeted by the capture design. "
    "Regions with low or no coverage, including GC-rich, repetitive and homologous regions "
    "(pseudogenes, segmental duplications), may hold variants that were not detected; the "
    "quality-control section gives the fraction of targets covered at 20x or more.\n\n"
    "Copy-number variants, structural rearrangements, repeat expansions, mitochondrial "
    "variants, deep intronic and regulatory variants, and epigenetic changes are not detected "
    "by this analysis. Low-level mosaicism (variant allele fraction below about 20%) may be "
    "missed, and a variant found here may be mosaic or of somatic origin.\n\n"
    "Variants are called and annotated by an automated pipeline; annotation (gene, transcript, "
    "consequence, impact) is computed against the reference annotation and is research grade "
    "until confirmed. Reported variants have not been confirmed by an orthogonal method "
    "(e.g. Sanger sequencing) unless stated in the interpretation. Variants are classified by "
    "the laboratory with the ACMG/AMP 2015 criteria, using the population frequencies and "
    "ClinVar records of the annotation sources listed under Methods, at their versions. Phasing "
    "of compound heterozygous variants and segregation in the family are outside the scope of "
    "this report unless stated in the interpretation. Only the genes of the stated panel were "
    "examined when a panel is named.\n\n"
    "Interpretation reflects current knowledge at the date of sign-out and may change as "
    "knowledge improves. This report must be read by a qualified professional together with "
    "the clinical findings.")


def short_allele(seq: str, keep: int = 12) -> str:
    # Long indel alleles would swamp the table; the variant ID and HGVS carry the full change.
    return seq if len(seq) <= keep else f"{seq[:keep]}...({len(seq)} bp)"



class QCFigure(NamedTuple):
    label: str
    value: str            # already formatted, with its unit
    status: str = ""      # "pass", "warn", "fail" or "" when the pipeline gave none
    threshold: str = ""   # e.g. "≥ 90.00%", "" when the pipeline applied none


@dataclass(frozen=True)
class ReportVariant:
    variant_id: str
    chrom: str
    pos: int
    ref: str
    alt: str
    gene: str = ""
    transcript: str = ""
    hgvs_c: str = ""
    hgvs_p: str = ""
    consequence: str = ""
    impact: str = ""
    genotype: str = ""
    depth: int | None = None
    vaf: float | None = None
    category: str = "primary"         # "primary" or "secondary" finding
    gnomad_af: float | None = None
    gnomad_hom: int | None = None
    clinvar: str = ""                 # significance (review status)
    classification: str = ""          # the reviewer's final class, as written
    criteria: tuple[str, ...] = ()    # "PVS1", "PM2 (supporting)"
    comment: str = ""

    @property
    def zygosity(self) -> str:
        return ZYGOSITY.get(self.genotype.replace("|", "/"), self.genotype or "-")

    @property
    def location(self) -> str:
        return f"{self.chrom}:{self.pos} {short_allele(self.ref)}>{short_allele(self.alt)}"


ZYGOSITY = {"0/1": "heterozygous", "1/0": "heterozygous", "1/1": "homozygous",
            "1": "hemizygous"}


@dataclass(frozen=True)
class PanelSummary:
    """The gene panel the review used and how well the run covered it."""

    name: str                          # "Epilepsy v3"
    genes: int
    pct_20x: float | None = None       # of the panel genes' coding bases
    below_100: tuple[str, ...] = ()    # genes not fully covered at 20x ("SIM3 (92.5%)")


@dataclass(frozen=True)
class Signature:
    """Who approved which draft, when and with what meaning (21 CFR 11-style manifestation)."""

    signer: str                 # the signer's name (their email when they gave no name)
    signer_email: str
    signed_at: datetime
    meaning: str                # e.g. "Reviewed and approved"
    version: int                # the report version signed
    approved_sha256: str        # SHA-256 of the draft PDF the signer reviewed
    comment: str = ""


@dataclass(frozen=True)
class ReportContent:
    lab_name: str
    sample_name: str
    external_id: str
    sex: str
    clinical_indication: str
    job_id: str
    generated_at: datetime            # also the PDF's creation date (determinism)
    report_version: int = 1
    title: str = DEFAULT_TITLE
    hpo_terms: tuple[str, ...] = ()
    received_at: datetime | None = None
    analysed_at: datetime | None = None
    pipeline_version: str = ""
    runner: str = ""
    reference_build: str = ""
    tools: dict[str, str | None] = field(default_factory=dict)
    parameters: dict[str, object] = field(default_factory=dict)
    qc: tuple[QCFigure, ...] = ()
    variants: tuple[ReportVariant, ...] = ()
    result_summary: str = ""
    panel: PanelSummary | None = None
    sources: tuple[tuple[str, str, str], ...] = ()    # annotation (name, version, sha256)
    interpretation: str = ""
    limitations: str = DEFAULT_LIMITATIONS
    amends_version: int | None = None
    amendment_reason: str = ""
    signature: Signature | None = None   # None: a draft, with the DRAFT banner and watermark

    @property
    def is_draft(self) -> bool:
        return self.signature is None
