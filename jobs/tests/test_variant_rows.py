"""The variant table's rows, built in Python by jobs/templatetags/variant_rows.py."""

from jobs.templatetags.variant_rows import variant_row


def test_a_row_escapes_every_value_it_shows():
    """The table's rows are built in Python (jobs/templatetags/variant_rows.py): a value from a
    VCF or annotation source that holds markup is shown as text."""
    hostile = '<img src=x onerror="alert(1)">'
    row = {"id": 1, "variant_id": hostile, "chrom": "chr1", "pos": 10, "ref": "A", "alt": hostile,
           "genotype": hostile, "depth": None, "allele_depth": "", "vaf": 0.5, "qual": 30.0,
           "filter": hostile, "gene": hostile, "transcript": hostile, "consequence": hostile,
           "impact": "HIGH", "hgvs_p": hostile, "hgvs_c": hostile, "protein_change": "",
           "dna_change": "", "gnomad_af": 1e-5, "gnomad_hom": 2,
           "clinvar_significance": "Pathogenic", "clinvar_review_status": hostile,
           "clinvar_id": hostile, "url": '/x?a=1&b="2"', "clinvar_group": "pathogenic",
           "clinvar_label": hostile, "selected": hostile, "classification": None}
    html = str(variant_row(row))
    assert "<img" not in html and 'onerror="' not in html
    # Every field above once, and twice where it is also a title or a data attribute.
    assert html.count("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;") == 16
    assert 'href="/x?a=1&amp;b=&quot;2&quot;"' in html
    assert '<td class="num">–</td><td class="num">0.50</td><td class="num">30.0</td>' in html
    assert '<span class="impact impact-high">High</span>' in html and "1.00e-05" in html
