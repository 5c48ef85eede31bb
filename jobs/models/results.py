"""What a run leaves: published outputs, the variant table and per-gene coverage (jobs.results)."""

import uuid

from django.db import models

from jobs.models.runs import Job
from tenants.models import Lab


class JobOutput(models.Model):
    """A published, verified pipeline output: where it is, how big, and its SHA-256."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    lab = models.ForeignKey(Lab, on_delete=models.PROTECT, related_name="job_outputs")
    job = models.ForeignKey(Job, on_delete=models.PROTECT, related_name="outputs")
    path = models.CharField(max_length=300)          # as published by the pipeline: "vcf/S.vcf.gz"
    bucket_role = models.CharField(max_length=20)    # "intermediate", "results", "logs"
    key = models.CharField(max_length=512)
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    verified_at = models.DateTimeField()

    class Meta:
        ordering = ["path"]
        constraints = [models.UniqueConstraint(fields=["job", "path"], name="one_output_per_path")]

    def __str__(self) -> str:
        return self.path


class Impact(models.TextChoices):
    HIGH = "HIGH", "High"
    MODERATE = "MODERATE", "Moderate"
    LOW = "LOW", "Low"
    MODIFIER = "MODIFIER", "Modifier"


class Variant(models.Model):
    """One row of a job's final variant table, loaded when the job's outputs are published so that
    the viewer filters, sorts and pages in the database."""

    id = models.BigAutoField(primary_key=True)
    lab = models.ForeignKey(Lab, on_delete=models.PROTECT, related_name="+")
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="variants")
    variant_id = models.CharField(max_length=40)
    chrom = models.CharField(max_length=64)
    pos = models.BigIntegerField()
    ref = models.TextField()
    alt = models.TextField()
    genotype = models.CharField(max_length=16, blank=True)
    depth = models.IntegerField(null=True, blank=True)
    allele_depth = models.CharField(max_length=64, blank=True)
    vaf = models.FloatField(null=True, blank=True)
    qual = models.FloatField(null=True, blank=True)
    filter = models.CharField(max_length=200, blank=True)
    gene = models.CharField(max_length=64, blank=True)
    # The gene in natural order (SIM1, SIM3, SIM10): its digit runs zero-padded, written when
    # the table is loaded (variant_table.gene_sort_key); NULL without a gene, so a row with no
    # gene sorts last either way, like every missing value.
    gene_sort = models.TextField(null=True, blank=True)
    transcript = models.CharField(max_length=64, blank=True)
    consequence = models.CharField(max_length=200, blank=True)
    impact = models.CharField(max_length=10, choices=Impact.choices, blank=True)
    hgvs_p = models.CharField(max_length=200, blank=True)
    hgvs_c = models.CharField(max_length=200, blank=True)
    protein_change = models.CharField(max_length=200, blank=True)
    dna_change = models.CharField(max_length=200, blank=True)
    gnomad_af = models.FloatField(null=True, blank=True)        # population allele frequency
    gnomad_hom = models.IntegerField(null=True, blank=True)     # homozygotes in the population
    clinvar_significance = models.CharField(max_length=200, blank=True)  # ClinVar's spelling
    clinvar_review_status = models.CharField(max_length=200, blank=True)
    clinvar_id = models.CharField(max_length=20, blank=True)

    class Meta:
        ordering = ["chrom", "pos"]
        constraints = [models.UniqueConstraint(fields=["job", "variant_id"],
                                               name="one_row_per_variant_id")]
        # (job, gene_sort) lets a sort by gene read the first pages in order instead of sorting
        # the whole job (13 ms instead of 59 ms for page 400 of 50,000 rows).
        indexes = [models.Index(fields=["job", "gene"]), models.Index(fields=["job", "impact"]),
                   models.Index(fields=["job", "gene_sort"], name="variant_gene_natural")]

    def __str__(self) -> str:
        return self.variant_id


class GeneCoverage(models.Model):
    """A gene's coverage in one job (the pipeline's qc/{sample}.gene_coverage.tsv): what a panel's
    negative result rests on."""

    id = models.BigAutoField(primary_key=True)
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="gene_coverage")
    gene = models.CharField(max_length=64)
    transcript = models.CharField(max_length=64, blank=True)
    bases = models.PositiveIntegerField()
    bases_20x = models.PositiveIntegerField()
    pct_20x = models.FloatField()

    class Meta:
        ordering = ["gene"]
        constraints = [models.UniqueConstraint(fields=["job", "gene"],
                                               name="one_coverage_row_per_gene")]
