"""The pipeline's final variant table (`{sample}_Final_.txt`): its columns, the impact class of
each consequence term, and loading it into the `Variant` table, all or nothing.

The TSV's columns are written by nextflow/bin/final_table; jobs/results/tests/test_variants.py
runs that script and loads its output, so the two cannot drift apart unnoticed. Reading the
table back, a page at a time, is jobs/results/variants.py.
"""

from __future__ import annotations

import math
import re
from typing import Iterable

from django.db import connection, transaction

from jobs.models import Impact, Variant

BASE_COLUMNS = ["variant_id", "sample", "chrom", "pos", "ref", "alt", "genotype", "depth",
                "allele_depth", "vaf", "qual", "filter", "gene", "transcript", "consequence",
                "hgvs_p", "hgvs_c", "protein_change", "dna_change"]
ANNOTATION_COLUMNS = ["gnomad_af", "gnomad_hom", "clinvar_significance",
                      "clinvar_review_status", "clinvar_id"]
COLUMNS = BASE_COLUMNS + ANNOTATION_COLUMNS
# Tables of runs before population and ClinVar annotation (the first 19 columns) still load.
HEADERS = (COLUMNS, BASE_COLUMNS)
# Elsewhere than PostgreSQL (SQLite in development), one INSERT per batch: large enough that
# round trips do not dominate, small enough to stay under the bind-parameter limits.
BATCH_SIZE = 2000

_HIGH, _MODERATE, _LOW, _MODIFIER = Impact.HIGH, Impact.MODERATE, Impact.LOW, Impact.MODIFIER
# Impact class of each consequence term: Ensembl VEP's table of calculated consequences, plus the
# terms only snpEff or bcftools csq use (csq drops the "_variant" suffix and writes UTRs in lower
# case; "inframe_altering" is its protein-altering in-frame change).
IMPACT_OF_TERM = {
    # VEP
    "transcript_ablation": _HIGH, "splice_acceptor_variant": _HIGH,
    "splice_donor_variant": _HIGH, "stop_gained": _HIGH, "frameshift_variant": _HIGH,
    "stop_lost": _HIGH, "start_lost": _HIGH, "transcript_amplification": _HIGH,
    "feature_elongation": _HIGH, "feature_truncation": _HIGH,
    "inframe_insertion": _MODERATE, "inframe_deletion": _MODERATE,
    "missense_variant": _MODERATE, "protein_altering_variant": _MODERATE,
    "splice_donor_5th_base_variant": _LOW, "splice_region_variant": _LOW,
    "splice_donor_region_variant": _LOW, "splice_polypyrimidine_tract_variant": _LOW,
    "incomplete_terminal_codon_variant": _LOW, "start_retained_variant": _LOW,
    "stop_retained_variant": _LOW, "synonymous_variant": _LOW,
    "coding_sequence_variant": _MODIFIER, "mature_miRNA_variant": _MODIFIER,
    "5_prime_UTR_variant": _MODIFIER, "3_prime_UTR_variant": _MODIFIER,
    "non_coding_transcript_exon_variant": _MODIFIER, "intron_variant": _MODIFIER,
    "NMD_transcript_variant": _MODIFIER, "non_coding_transcript_variant": _MODIFIER,
    "coding_transcript_variant": _MODIFIER, "upstream_gene_variant": _MODIFIER,
    "downstream_gene_variant": _MODIFIER, "TFBS_ablation": _MODIFIER,
    "TFBS_amplification": _MODIFIER, "TF_binding_site_variant": _MODIFIER,
    "regulatory_region_ablation": _MODIFIER, "regulatory_region_amplification": _MODIFIER,
    "regulatory_region_variant": _MODIFIER, "intergenic_variant": _MODIFIER,
    "sequence_variant": _MODIFIER,
    # snpEff
    "exon_loss_variant": _HIGH, "rare_amino_acid_variant": _HIGH,
    "chromosome_number_variation": _HIGH, "gene_fusion": _HIGH,
    "bidirectional_gene_fusion": _HIGH, "structural_interaction_variant": _HIGH,
    "protein_protein_contact": _HIGH,
    "disruptive_inframe_insertion": _MODERATE, "disruptive_inframe_deletion": _MODERATE,
    "conservative_inframe_insertion": _MODERATE, "conservative_inframe_deletion": _MODERATE,
    "5_prime_UTR_premature_start_codon_gain_variant": _LOW, "initiator_codon_variant": _LOW,
    "intergenic_region": _MODIFIER, "intragenic_variant": _MODIFIER, "exon_variant": _MODIFIER,
    "gene_variant": _MODIFIER, "transcript_variant": _MODIFIER,
    "conserved_intron_variant": _MODIFIER, "conserved_intergenic_variant": _MODIFIER,
    "sequence_feature": _MODIFIER,
    # bcftools csq
    "splice_acceptor": _HIGH, "splice_donor": _HIGH, "frameshift": _HIGH,
    "missense": _MODERATE, "inframe_altering": _MODERATE,
    "splice_region": _LOW, "synonymous": _LOW, "stop_retained": _LOW, "start_retained": _LOW,
    "coding_sequence": _MODIFIER, "5_prime_utr": _MODIFIER, "3_prime_utr": _MODIFIER,
    "non_coding": _MODIFIER, "intron": _MODIFIER, "intergenic": _MODIFIER,
}
IMPACT_ORDER = [_HIGH, _MODERATE, _LOW, _MODIFIER]
TERM_SEPARATORS = re.compile(r"[&+,]")


def consequence_terms(consequence: str) -> list[str]:
    """The terms of a possibly compound consequence ("missense&splice_region"); bcftools csq marks
    a consequence found at another record of the haplotype with a leading '*'."""
    return [t.strip().lstrip("*") for t in TERM_SEPARATORS.split(consequence) if t.strip("* ")]


def impact_of(consequence: str) -> str:
    """The most severe impact among the consequence's terms, or "" when none is a known term.
    An unknown term is left unclassified rather than guessed as MODIFIER: a guess could bury a
    severe variant under a filter for high impact."""
    impacts = {IMPACT_OF_TERM[t] for t in consequence_terms(consequence) if t in IMPACT_OF_TERM}
    return next((i for i in IMPACT_ORDER if i in impacts), "")


def _max_lengths() -> dict[str, int]:
    return {f.name: f.max_length for f in Variant._meta.get_fields()
            if getattr(f, "max_length", None) and f.name in COLUMNS}


def _number(text: str, convert, lineno: int, column: str, what: str):
    if text in ("", "."):
        return None
    try:
        value = convert(text)
    except ValueError:
        raise ValueError(f"line {lineno}: {column} {text!r} is not {what}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"line {lineno}: {column} {text!r} is not {what}")
    if value < 0:
        raise ValueError(f"line {lineno}: {column} {text!r} is negative")
    return value


def _parse(lines: Iterable[str | bytes], sample: str):
    """Yield one dict of Variant fields per data line; ValueError names the first bad line."""
    limits = _max_lengths()
    seen: dict[str, int] = {}
    header_seen = False
    for lineno, line in enumerate(lines, start=1):
        if isinstance(line, bytes):
            try:
                line = line.decode("utf-8")
            except UnicodeDecodeError:
                raise ValueError(f"line {lineno}: not UTF-8 text") from None
        line = line.rstrip("\r\n")
        if not header_seen:
            header = line.split("\t")
            if header in HEADERS:
                columns = header
            else:
                wrong = next((f"column {i + 1} is {got!r}, expected {want!r}"
                              for i, (got, want) in enumerate(zip(header, COLUMNS)) if got != want),
                             f"it has {len(header)} columns, expected {len(COLUMNS)}")
                raise ValueError(f"line {lineno}: not the header of a final variant table "
                                 f"({wrong}); expected: {' '.join(COLUMNS)}")
            header_seen = True
            continue
        if not line.strip():
            continue
        values = line.split("\t")
        if len(values) != len(columns):
            raise ValueError(f"line {lineno}: {len(values)} tab-separated columns, expected "
                             f"{len(columns)}")
        row = dict.fromkeys(ANNOTATION_COLUMNS, "") | dict(zip(columns, values))
        for column in ("variant_id", "chrom", "ref", "alt"):
            if not row[column]:
                raise ValueError(f"line {lineno}: {column} is empty")
        if row["sample"] != sample:
            raise ValueError(f"line {lineno}: the row is for sample {row['sample']!r}, but this "
                             f"job analysed {sample!r}")
        for column, limit in limits.items():
            if len(row[column]) > limit:
                raise ValueError(f"line {lineno}: {column} is {len(row[column])} characters "
                                 f"long, the limit is {limit}")
        if row["variant_id"] in seen:
            raise ValueError(f"line {lineno}: variant {row['variant_id']} already appears on "
                             f"line {seen[row['variant_id']]}")
        seen[row["variant_id"]] = lineno
        pos = _number(row["pos"], int, lineno, "pos", "a whole number")
        if not pos:
            raise ValueError(f"line {lineno}: pos {row['pos']!r} is not a position (1 or more)")
        vaf = _number(row["vaf"], float, lineno, "vaf", "a number")
        if vaf is not None and vaf > 1:
            raise ValueError(f"line {lineno}: vaf {row['vaf']!r} is above 1")
        gnomad_af = _number(row["gnomad_af"], float, lineno, "gnomad_af", "a number")
        if gnomad_af is not None and gnomad_af > 1:
            raise ValueError(f"line {lineno}: gnomad_af {row['gnomad_af']!r} is above 1")
        del row["sample"]
        row.update(
            pos=pos, vaf=vaf, gnomad_af=gnomad_af,
            gnomad_hom=_number(row["gnomad_hom"], int, lineno, "gnomad_hom", "a whole number"),
            depth=_number(row["depth"], int, lineno, "depth", "a whole number"),
            qual=_number(row["qual"], float, lineno, "qual", "a number"),
            impact=impact_of(row["consequence"]), gene_sort=gene_sort_key(row["gene"]))
        yield row
    if not header_seen:
        raise ValueError("line 1: the variant table is empty; expected the header "
                         f"{' '.join(COLUMNS)}")


# Digit runs padded to this width sort as numbers in a text comparison. PostgreSQL's lpad (the
# migration that filled older rows) cuts a longer run, which no gene symbol has.
GENE_DIGITS = 10


def gene_sort_key(symbol: str) -> str | None:
    """The symbol in natural order as plain text: SIM1 < SIM3 < SIM10, C1orf112 < C10orf90."""
    if not symbol:
        return None
    return re.sub(r"\d+", lambda digits: digits.group().zfill(GENE_DIGITS), symbol)


CHROM_RANK = {**{str(n): n for n in range(1, 23)}, "X": 23, "Y": 24, "M": 25, "MT": 25}
OTHER_CONTIGS = 26


def genomic_order(row: dict) -> tuple:
    """Chromosomes in karyotype order (1-22, X, Y, M), other contigs after them by name."""
    rank = CHROM_RANK.get(row["chrom"].removeprefix("chr"), OTHER_CONTIGS)
    return (rank, row["chrom"] if rank == OTHER_CONTIGS else "", row["pos"])


def load_variants(*, job, lines: Iterable[str | bytes]) -> int:
    """Replace the job's variant rows with the table in `lines` (the final TSV, header first).

    All or nothing: the old rows are deleted and the new ones inserted in one transaction, so
    loading twice (a republished output, a rerun task) ends with one copy, and a bad line leaves
    the previous rows in place. A bad header or row raises ValueError naming the line.
    Rows are stored in genomic order, so the primary key is the position order: sorting by
    position, and breaking ties of every other sort, then costs the database nothing. To sort
    them the parsed rows are held in memory (about 55 MB at the peak for 50,000 rows).
    Not audited: this is the pipeline publishing its own result, not a person reading it.
    """
    fields = [f for f in Variant._meta.concrete_fields if not f.primary_key]
    rows = sorted(_parse(lines, sample=job.sample.name), key=genomic_order)
    base = {"lab_id": job.lab_id, "job_id": job.pk}
    with transaction.atomic():
        job.variants.all().delete()
        if connection.vendor != "postgresql":
            Variant.objects.bulk_create((Variant(**base, **row) for row in rows),
                                        batch_size=BATCH_SIZE)
            return len(rows)
        _copy_in(fields, ([base[f.attname] if f.attname in base else row[f.attname]
                           for f in fields] for row in rows))
        # Fresh planner statistics now, not when autovacuum gets round to it: without them
        # PostgreSQL takes the new rows for a handful and sorts the first pages on disk.
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(Variant._meta.db_table)}")
    return len(rows)


def _copy_in(fields, values) -> None:
    """PostgreSQL's COPY: about five times faster than INSERTs for 50,000 rows (measured when it
    was chosen; bench/variants.py reports the load time of 50,000 rows)."""
    quote = connection.ops.quote_name
    statement = (f"COPY {quote(Variant._meta.db_table)} "
                 f"({', '.join(quote(f.column) for f in fields)}) FROM STDIN")
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        for row in values:
            copy.write_row(row)
