"""Variant.gene_sort: the gene in natural order (SIM1, SIM3, SIM10), filled for the rows already
loaded with the same rule as variant_table.gene_sort_key (digit runs zero-padded to 10)."""

import re

from django.db import migrations, models

# One statement over every row: each run of digits or of other characters, the digit runs padded.
BACKFILL = r"""
UPDATE jobs_variant SET gene_sort = (
    SELECT string_agg(CASE WHEN part[1] ~ '^[0-9]' THEN lpad(part[1], 10, '0') ELSE part[1] END,
                      '' ORDER BY n)
    FROM regexp_matches(gene, '[0-9]+|[^0-9]+', 'g') WITH ORDINALITY AS runs(part, n))
WHERE gene <> ''
"""


def backfill(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKFILL)
        return
    Variant = apps.get_model("jobs", "Variant")
    for row in Variant.objects.exclude(gene="").only("id", "gene").iterator():
        row.gene_sort = re.sub(r"\d+", lambda d: d.group().zfill(10), row.gene)
        row.save(update_fields=["gene_sort"])


class Migration(migrations.Migration):

    dependencies = [
        ('jobs', '0013_lifecycle_qc_verdict_reanalysis'),
    ]

    operations = [
        migrations.AddField(
            model_name='variant',
            name='gene_sort',
            field=models.TextField(blank=True, null=True),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name='variant',
            index=models.Index(fields=['job', 'gene_sort'], name='variant_gene_natural'),
        ),
    ]
