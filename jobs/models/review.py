"""What a reviewer decides about a job's variants (jobs.review): the lab's gene panels and saved
filters, its classifications of variants (kept across samples), and which variants go in the
report."""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from jobs.models.results import Variant
from jobs.models.runs import Job
from tenants.models import Lab


class GenePanel(models.Model):
    """A lab's named gene list. Its genes live in versions: a version never changes once saved, so
    a signed report names exactly the genes it looked at."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    lab = models.ForeignKey(Lab, on_delete=models.PROTECT, related_name="gene_panels")
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["lab", "name"],
                                               name="one_panel_name_per_lab")]

    def __str__(self) -> str:
        return self.name

    def latest_version(self):
        return self.versions.order_by("-version").first()


class GenePanelVersion(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    panel = models.ForeignKey(GenePanel, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField()
    genes = models.JSONField()             # sorted, distinct HGNC symbols
    note = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   null=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["panel", "-version"]
        constraints = [models.UniqueConstraint(fields=["panel", "version"],
                                               name="one_panel_version_number")]

    def __str__(self) -> str:
        return f"{self.panel.name} v{self.version}"


class FilterPreset(models.Model):
    """A lab's saved variant filters: the viewer's query string, checked again when applied."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    lab = models.ForeignKey(Lab, on_delete=models.PROTECT, related_name="filter_presets")
    name = models.CharField(max_length=100)
    query = models.CharField(max_length=2000)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   null=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["lab", "name"],
                                               name="one_preset_name_per_lab")]

    def __str__(self) -> str:
        return self.name


class ClinicalClass(models.TextChoices):
    PATHOGENIC = "pathogenic", "Pathogenic"
    LIKELY_PATHOGENIC = "likely_pathogenic", "Likely pathogenic"
    UNCERTAIN = "uncertain", "Uncertain significance"
    LIKELY_BENIGN = "likely_benign", "Likely benign"
    BENIGN = "benign", "Benign"


class Classification(models.Model):
    """One classification of a variant (chrom, pos, ref, alt) by the lab. Rows are only added: the
    newest is the lab's current view of the variant, the older ones its history, and every
    sample of the lab with the same variant shows it."""

    id = models.BigAutoField(primary_key=True)
    lab = models.ForeignKey(Lab, on_delete=models.PROTECT, related_name="+")
    chrom = models.CharField(max_length=64)
    pos = models.BigIntegerField()
    ref = models.TextField()
    alt = models.TextField()
    gene = models.CharField(max_length=64, blank=True)
    hgvs_c = models.CharField(max_length=200, blank=True)
    criteria = models.JSONField(default=dict)      # {"PVS1": "very_strong", "PM2": "supporting"}
    suggested_class = models.CharField(max_length=20, choices=ClinicalClass.choices)
    final_class = models.CharField(max_length=20, choices=ClinicalClass.choices)
    comment = models.TextField(blank=True)
    job = models.ForeignKey(Job, on_delete=models.PROTECT, related_name="+")  # classified in
    classified_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                      related_name="+")
    classified_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-classified_at", "-id"]
        indexes = [models.Index(fields=["lab", "chrom", "pos"], name="classification_site")]

    def __str__(self) -> str:
        return f"{self.chrom}:{self.pos} {self.ref}>{self.alt} {self.final_class}"


class SelectionCategory(models.TextChoices):
    PRIMARY = "primary", "Primary finding"
    SECONDARY = "secondary", "Secondary finding"


class VariantSelection(models.Model):
    """A variant the reviewer put in the job's report."""

    id = models.BigAutoField(primary_key=True)
    lab = models.ForeignKey(Lab, on_delete=models.PROTECT, related_name="+")
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="selections")
    variant = models.OneToOneField(Variant, on_delete=models.CASCADE, related_name="selection")
    category = models.CharField(max_length=10, choices=SelectionCategory.choices)
    selected_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                    related_name="+")
    selected_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["category", "variant_id"]

    def __str__(self) -> str:
        return f"{self.variant_id} ({self.category})"
