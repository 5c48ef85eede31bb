"""Per-gene coverage of a run (the pipeline's `qc/{sample}.gene_coverage.tsv`: the coding bases of
each gene's canonical transcript and how many were read 20 times or more), loaded with the
results so that a panel's coverage is shown beside its variants and printed in its report."""

from __future__ import annotations

from typing import Iterable

from django.db import transaction

from jobs.models import GeneCoverage

HEADER = ["gene", "transcript", "bases", "bases_20x", "pct_20x"]


def parse_gene_coverage(lines: Iterable[str]) -> list[dict]:
    """Rows as GeneCoverage fields; ValueError names the first bad line."""
    rows, seen = [], set()
    for lineno, line in enumerate(lines, start=1):
        values = line.rstrip("\r\n").split("\t")
        if lineno == 1:
            if values != HEADER:
                raise ValueError(f"gene coverage line 1: expected the header {' '.join(HEADER)}")
            continue
        if not line.strip():
            continue
        if len(values) != len(HEADER):
            raise ValueError(f"gene coverage line {lineno}: {len(values)} columns, expected "
                             f"{len(HEADER)}")
        gene, transcript, bases, bases_20x, pct = values
        try:
            row = {"gene": gene, "transcript": transcript, "bases": int(bases),
                   "bases_20x": int(bases_20x), "pct_20x": float(pct)}
        except ValueError:
            raise ValueError(f"gene coverage line {lineno}: bases and pct_20x must be "
                             "numbers") from None
        if not gene or gene in seen or not 0 <= row["bases_20x"] <= row["bases"] or \
                not 0 <= row["pct_20x"] <= 100:
            raise ValueError(f"gene coverage line {lineno}: not a gene's coverage ({line!r})")
        seen.add(gene)
        rows.append(row)
    return rows


def load_gene_coverage(*, job, lines: Iterable[str]) -> int:
    """Replace the job's per-gene coverage with the file's rows (all or nothing)."""
    rows = parse_gene_coverage(lines)
    with transaction.atomic():
        job.gene_coverage.all().delete()
        GeneCoverage.objects.bulk_create(GeneCoverage(job=job, **row) for row in rows)
    return len(rows)
