"""The variant table: loading the pipeline's final TSV, and the manager's viewer that filters, sorts
and pages it in the database, one audit event per page shown."""

import gzip
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jobs.intake import services
from jobs.models import Job, JobStatus
from jobs.results.variant_table import COLUMNS, gene_sort_key, impact_of, load_variants
from jobs.results.variants import gene_spellings, variant_page
from tests.helpers import enter_totp_code, give_totp, screenshot
from tenants import audit_actions
from tenants.models import AuditEvent

ROOT = Path(__file__).resolve().parents[3]

# Ten hand-made rows; the expectations below were counted by hand from this table. The last five
# columns: gnomad_af gnomad_hom clinvar_significance clinvar_review_status clinvar_id.
SMALL = """\
V01 S1 chr1 1000 A G 0/1 30 15,15 0.5 50 PASS BRCA1 T1 missense p.Gln10Pro - 10Q>10P 1000A>G 0.0001 0 Pathogenic criteria_provided,_multiple_submitters,_no_conflicts 1001
V02 S1 chr1 2000 C T 1/1 12 0,12 1.0 80 PASS BRCA1 T1 synonymous p.Leu20= - 20L 2000C>T 0.25 1200 Benign reviewed_by_expert_panel 1002
V03 S1 chr2 500 G GA 0/1 8 4,4 0.5 20 LowQual TP53 T2 frameshift - - 5R>5RX 500G>GA - - - - -
V04 S1 chr10 300 T C 0/1 45 20,25 0.5556 99 PASS TP53 T2 missense&splice_region p.Ser3Pro - 3S>3P 300T>C 0.008 2 Uncertain_significance criteria_provided,_single_submitter 1004
V05 S1 chrX 700 A T 1 20 0,20 1.0 60 PASS DMD T3 stop_gained p.Lys7Ter - 7K>7* 700A>T - - Pathogenic/Likely_pathogenic criteria_provided,_single_submitter 1005
V06 S1 chr2 100 C A 0|1 - - - . . CFTR T4 intron - - - - 0.4 5000 - - -
V07 S1 chr1 3000 G A 0/1 25 12,13 0.52 35 PASS brca2 T5 splice_region_variant&intron_variant - c.100+4G>A - - 0.02 10 Conflicting_classifications_of_pathogenicity criteria_provided,_conflicting_classifications 1007
V08 S1 chr22 50 A C 1/1 60 0,60 1.0 200 PASS BRCA2 T5 3_prime_utr - - - - 0.0005 0 Likely_benign criteria_provided,_single_submitter 1008
V09 S1 chr3 10 AT A 0/1 5 3,2 0.4 10 LowQual - - - - - - - - - - - -
V10 S1 chr2 900 C G 0/1 33 16,17 0.5152 70 PASS CFTR T4 start_lost p.Met1? - 1M>1R 900C>G 0.00002 0 Likely_pathogenic|risk_factor criteria_provided,_single_submitter 1010
"""
POSITION_ORDER = ["V01", "V02", "V07", "V06", "V03", "V10", "V09", "V04", "V08", "V05"]


def tsv(body: str = SMALL, header: list[str] = COLUMNS) -> list[str]:
    """The table as the pipeline writes it: tab-separated, '-' here standing for an empty cell."""
    rows = ["\t".join("" if cell == "-" else cell for cell in line.split(" "))
            for line in body.splitlines()]
    return ["\t".join(header) + "\n"] + [row + "\n" for row in rows]


def make_job(member, name="S1") -> Job:
    """A sample and a finished job of it, built without running the pipeline (the viewer does not
    care how the table was made; test_job_run.py covers the real run)."""
    sample = services.sample_create(
        membership=member, files={1: (f"{name}_R1.fastq.gz", 100), 2: (f"{name}_R2.fastq.gz", 100)},
        data={"name": name, "external_id": f"PSN-{name}", "sex": "female",
              "clinical_indication": "Developmental delay"})
    return Job.objects.create(id=sample.job_id, lab=sample.lab, sample=sample,
                              submitted_by=member.user, status=JobStatus.SUCCEEDED)


@pytest.fixture
def job(manager):
    job = make_job(manager)
    assert load_variants(job=job, lines=tsv()) == 10
    return job


def url_of(job, slug="lab-a"):
    return f"/labs/{slug}/jobs/{job.pk}/variants/"


def shown(response) -> list[str]:
    assert response.status_code == 200, response.content.decode()[:2000]
    return re.findall(r'data-variant="([^"]+)"', response.content.decode())


def viewed_events():
    return list(AuditEvent.objects.filter(action=audit_actions.VARIANTS_VIEWED).order_by("id"))


def test_it_loads_every_row_with_its_impact(job):
    rows = {v.variant_id: v for v in job.variants.all()}
    assert len(rows) == 10
    assert {k: v.impact for k, v in rows.items()} == {
        "V01": "MODERATE", "V02": "LOW", "V03": "HIGH", "V04": "MODERATE", "V05": "HIGH",
        "V06": "MODIFIER", "V07": "LOW", "V08": "MODIFIER", "V09": "", "V10": "HIGH"}
    v06, v04 = rows["V06"], rows["V04"]
    assert (v06.depth, v06.vaf, v06.qual, v06.filter) == (None, None, None, ".")
    assert (v04.pos, v04.depth, v04.vaf, v04.qual, v04.allele_depth) == (300, 45, 0.5556, 99.0,
                                                                           "20,25")
    assert v04.lab_id == job.lab_id and v04.hgvs_p == "p.Ser3Pro"


@pytest.mark.parametrize("consequence,impact", [
    ("missense", "MODERATE"), ("missense_variant", "MODERATE"), ("frameshift", "HIGH"),
    ("stop_gained&splice_region", "HIGH"), ("splice_region_variant&intron_variant", "LOW"),
    ("*missense", "MODERATE"), ("inframe_altering", "MODERATE"), ("5_prime_utr", "MODIFIER"),
    ("intergenic_region", "MODIFIER"), ("disruptive_inframe_deletion", "MODERATE"),
    ("synonymous+splice_region", "LOW"), ("made_up_term", ""), ("", ""),
])
def test_it_takes_the_most_severe_impact_of_the_consequence(consequence, impact):
    assert impact_of(consequence) == impact


@pytest.mark.parametrize("typed,stored", [
    ("brca1", "BRCA1"), ("BRCA1", "BRCA1"), ("c1orf112", "C1orf112"), ("C1ORF112", "C1orf112"),
    ("brca1", "Brca1"), ("hla-drb1", "HLA-DRB1"), ("Tp53", "TP53"),
])
def test_a_typed_gene_symbol_matches_the_way_the_table_writes_it(typed, stored):
    assert stored in gene_spellings(typed)


def test_it_loads_the_table_the_pipeline_writes(manager, tmp_path):
    """nextflow/bin/final_table on a small annotated VCF, loaded as published."""
    vcf = tmp_path / "S1.annotated.vcf.gz"
    with gzip.open(vcf, "wt") as fh:
        fh.write("##fileformat=VCFv4.2\n"
                 "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\n"
                 "chr1\t1200\t.\tA\tG\t61.5\tPASS\tDP=40;BCSQ=missense|GENE1|tx1|protein_coding|+"
                 "|10Q>10R|1200A>G\tGT:AD:DP\t0/1:22,18:40\n"
                 "chr1\t1500\t.\tC\tT\t88\tPASS\tBCSQ=synonymous|GENE1|tx1|protein_coding|+|20L"
                 "|1500C>T\tGT:AD:DP\t1/1:0,30:30\n"
                 "chr2\t800\t.\tG\tA\t12\tLowQual\t.\tGT:AD:DP\t0/1:5,3:8\n")
    subprocess.run([sys.executable, str(ROOT / "nextflow/bin/final_table"), "--sample", "S1",
                    "--vcf", str(vcf), "--outdir", str(tmp_path)], check=True, capture_output=True)
    job = make_job(manager)
    with open(tmp_path / "S1_Final_.txt") as fh:
        assert load_variants(job=job, lines=fh) == 3
    rows = list(job.variants.order_by("pos"))
    assert [(v.chrom, v.pos, v.gene, v.consequence, v.impact, v.hgvs_p, v.vaf, v.depth)
            for v in rows] == [
        ("chr2", 800, "", "", "", "", 0.375, 8),
        ("chr1", 1200, "GENE1", "missense", "MODERATE", "p.Gln10Arg", 0.45, 40),
        ("chr1", 1500, "GENE1", "synonymous", "LOW", "p.Leu20=", 1.0, 30)]


def test_loading_again_replaces_the_rows(job):
    first = set(job.variants.values_list("id", flat=True))
    assert load_variants(job=job, lines=tsv()) == 10
    assert job.variants.count() == 10 and not first & set(job.variants.values_list("id", flat=True))
    assert load_variants(job=job, lines=tsv(SMALL.splitlines()[0] + "\n")) == 1
    assert list(job.variants.values_list("variant_id", flat=True)) == ["V01"]


def test_it_refuses_a_table_with_the_wrong_header_and_keeps_the_old_rows(job):
    header = COLUMNS[:9] + ["VAF"] + COLUMNS[10:]
    with pytest.raises(ValueError, match=r"^line 1: not the header of a final variant table "
                                         r"\(column 10 is 'VAF', expected 'vaf'\)"):
        load_variants(job=job, lines=tsv(header=header))
    with pytest.raises(ValueError, match=r"^line 1: the variant table is empty"):
        load_variants(job=job, lines=[])
    assert job.variants.count() == 10


@pytest.mark.parametrize("bad_line,message", [
    ("V11 S1 chr1 5 A G 0/1 x 1,1 0.5 5 PASS G T missense - - - -",
     "line 4: depth 'x' is not a whole number"),
    ("V11 S1 chr1 0 A G 0/1 3 1,1 0.5 5 PASS G T missense - - - -",
     "line 4: pos '0' is not a position (1 or more)"),
    ("V11 S1 chr1 5 A G 0/1 3 1,1 1.5 5 PASS G T missense - - - -",
     "line 4: vaf '1.5' is above 1"),
    ("V11 S1 chr1 5 A G 0/1 3 1,1 0.5 nan PASS G T missense - - - -",
     "line 4: qual 'nan' is not a number"),
    ("V11 S2 chr1 5 A G 0/1 3 1,1 0.5 5 PASS G T missense - - - -",
     "line 4: the row is for sample 'S2', but this job analysed 'S1'"),
    ("V02 S1 chr1 5 A G 0/1 3 1,1 0.5 5 PASS G T missense - - - -",
     "line 4: variant V02 already appears on line 3"),
    ("V11 S1 chr1 5 A G 0/1 3 1,1 0.5 5 PASS G T missense - -",
     "line 4: 22 tab-separated columns, expected 24"),
    ("V11 S1 chr1 5 A G 0/1 3 1,1 0.5 5 PASS G T missense - - - - 1.2 - - - -",
     "line 4: gnomad_af '1.2' is above 1"),
    ("V11 S1 chr1 5 A G 0/1 3 1,1 0.5 5 PASS G T missense - - - - 0.1 many - - -",
     "line 4: gnomad_hom 'many' is not a whole number"),
    ("V11 S1 chr1 5 A G 0/1 3 1,1 0.5 5 PASS " + "G" * 65 + " T missense - - - -",
     "line 4: gene is 65 characters long, the limit is 64"),
])
def test_it_names_the_line_of_a_bad_row_and_loads_nothing(job, bad_line, message):
    if len(bad_line.split(" ")) < 24:
        bad_line += " - - - - -"    # no population frequency, not in ClinVar
    lines = tsv("\n".join(SMALL.splitlines()[:2] + [bad_line] + SMALL.splitlines()[2:]))
    with pytest.raises(ValueError) as raised:
        load_variants(job=job, lines=lines)
    assert str(raised.value) == message
    assert sorted(job.variants.values_list("variant_id", flat=True)) == sorted(POSITION_ORDER)


@pytest.mark.parametrize("query,expected", [
    ("", POSITION_ORDER),
    ("gene=BRCA1", ["V01", "V02"]),
    ("gene=brca2", ["V07", "V08"]),                     # case-insensitive, exact
    ("gene=BRCA", []),                                  # not a prefix search
    ("gene=BRCA1,+tp53", ["V01", "V02", "V03", "V04"]),
    ("consequence=missense", ["V01", "V04"]),           # also as part of missense&splice_region
    ("consequence=splice_region", ["V04"]),             # not splice_region_variant
    ("consequence=intron", ["V06"]),
    ("impact=HIGH", ["V03", "V10", "V05"]),
    ("impact=HIGH&impact=MODERATE", ["V01", "V03", "V10", "V04", "V05"]),
    ("impact=MODIFIER", ["V06", "V08"]),
    ("genotype=het", ["V01", "V07", "V06", "V03", "V10", "V09", "V04"]),
    ("genotype=hom_alt", ["V02", "V08"]),
    ("genotype=hemi", ["V05"]),
    ("min_depth=30", ["V01", "V10", "V04", "V08"]),     # no depth: not at least 30
    ("min_qual=60", ["V02", "V10", "V04", "V08", "V05"]),
    ("pass_only=on", ["V01", "V02", "V07", "V10", "V04", "V08", "V05"]),
    ("pass_only=on&impact=HIGH", ["V10", "V05"]),
    ("gene=TP53&min_depth=10&genotype=het", ["V04"]),
])
def test_each_filter_shows_the_hand_counted_rows(client_for, manager, job, query, expected):
    # An empty max_af_pct lifts the default population frequency limit (tested below).
    response = client_for(manager).get(url_of(job) + "?max_af_pct=&" + query)
    assert shown(response) == expected
    if expected:
        assert f'data-variant-count="{len(expected)}"' in response.content.decode()
    else:
        assert "No variants match these filters (10 in the table)" in response.content.decode()


@pytest.mark.parametrize("sort,expected", [
    ("position", POSITION_ORDER),                       # chr1, chr2, chr3, chr10, chr22, chrX
    ("-position", POSITION_ORDER[::-1]),
    ("depth", ["V09", "V03", "V02", "V05", "V07", "V01", "V10", "V04", "V08", "V06"]),
    ("-depth", ["V08", "V04", "V10", "V01", "V07", "V05", "V02", "V03", "V09", "V06"]),
    ("-qual", ["V08", "V04", "V02", "V10", "V05", "V01", "V07", "V03", "V09", "V06"]),
    ("impact", ["V03", "V10", "V05", "V01", "V04", "V02", "V07", "V06", "V08", "V09"]),
    ("-impact", ["V09", "V06", "V08", "V02", "V07", "V01", "V04", "V03", "V10", "V05"]),
])
def test_it_sorts_by_the_chosen_column(client_for, manager, job, sort, expected):
    assert shown(client_for(manager).get(url_of(job) + "?max_af_pct=&sort=" + sort)) == expected


NATURAL = ["C1orf112", "C10orf90", "SIM1", "SIM2", "SIM3", "SIM10", "SIM10A", "SIM21"]


@pytest.fixture
def numbered_genes(manager):
    """The small table with genes that sort differently as text (SIM1, SIM10, SIM2...)."""
    job = make_job(manager, "NAT")
    lines = tsv(SMALL.replace(" S1 ", " NAT "))
    genes = ["SIM10", "SIM2", "C10orf90", "SIM1", "SIM21", "SIM3", "C1orf112", "SIM10A", "-",
             "SIM10"]
    rows = [line.split("\t") for line in lines[1:]]
    for row, gene in zip(rows, genes):
        row[12] = "" if gene == "-" else gene
    load_variants(job=job, lines=[lines[0], *("\t".join(r) for r in rows)])
    return job


def descending_last(client, job, genes_of):
    return genes_of[shown(client.get(url_of(job) + "?max_af_pct=&sort=-gene"))[-1]]


def test_it_sorts_genes_in_natural_order(client_for, manager, numbered_genes):
    client = client_for(manager)
    genes_of = dict(numbered_genes.variants.values_list("variant_id", "gene"))
    ascending = [genes_of[v] for v in shown(client.get(url_of(numbered_genes) +
                                                       "?max_af_pct=&sort=gene"))]
    assert ascending[-1] == "" and descending_last(client, numbered_genes, genes_of) == ""
    assert [g for g in ascending if g] == ["C1orf112", "C10orf90", "SIM1", "SIM2", "SIM3",
                                           "SIM10", "SIM10", "SIM10A", "SIM21"]
    descending = [genes_of[v] for v in shown(client.get(url_of(numbered_genes) +
                                                        "?max_af_pct=&sort=-gene"))]
    assert [g for g in descending if g] == ["SIM21", "SIM10A", "SIM10", "SIM10", "SIM3", "SIM2",
                                            "SIM1", "C10orf90", "C1orf112"]
    # ties keep genomic order: the two SIM10 rows are V01 (chr1) then V10 (chr2)
    assert [v for v in shown(client.get(url_of(numbered_genes) + "?max_af_pct=&sort=gene"))
            if genes_of[v] == "SIM10"] == ["V01", "V10"]


def test_the_migration_fills_older_rows_as_the_loader_does(numbered_genes):
    import importlib

    migration = importlib.import_module("jobs.migrations.0014_gene_sort")
    loaded = dict(numbered_genes.variants.values_list("id", "gene_sort"))
    numbered_genes.variants.update(gene_sort=None)
    with connection.cursor() as cursor:
        cursor.execute(migration.BACKFILL)
    assert dict(numbered_genes.variants.values_list("id", "gene_sort")) == loaded
    assert sum(g is None for g in loaded.values()) == 1  # the row without a gene
    assert sorted(g for g in loaded.values() if g) == [gene_sort_key(g) for g in NATURAL[:5]] + \
        [gene_sort_key("SIM10")] * 2 + [gene_sort_key(g) for g in NATURAL[6:]]


@pytest.mark.parametrize("query,expected", [
    # By default, calls above 1% in the population are left out (V02 25%, V06 40%, V07 2%);
    # calls absent from the population database stay in.
    ("", ["V01", "V03", "V10", "V09", "V04", "V08", "V05"]),
    ("max_af_pct=0.05", ["V01", "V03", "V10", "V09", "V08", "V05"]),
    ("max_af_pct=30", ["V01", "V02", "V07", "V03", "V10", "V09", "V04", "V08", "V05"]),
    ("max_af_pct=&clinvar=pathogenic", ["V01", "V10", "V05"]),   # P/LP, LP|risk_factor too
    ("max_af_pct=&clinvar=benign", ["V02", "V08"]),
    ("max_af_pct=&clinvar=conflicting&clinvar=uncertain", ["V07", "V04"]),
    ("max_af_pct=&clinvar=none", ["V06", "V03", "V09"]),
    ("clinvar=none", ["V03", "V09"]),
    # Two hits in one gene among the rows left, or a homozygous call: BRCA1 (V01, V02) and
    # CFTR (V06, V10) have two; V08 is homozygous; TP53 (V03, V04) has two.
    ("max_af_pct=&two_hits=on", ["V01", "V02", "V06", "V03", "V10", "V04", "V08"]),
    ("max_af_pct=&two_hits=on&pass_only=on", ["V01", "V02", "V08"]),
    ("two_hits=on", ["V03", "V04", "V08"]),
    # absent from the population database: the rarest, first (in position order)
    ("max_af_pct=&sort=gnomad_af", ["V03", "V09", "V05", "V10", "V01", "V08", "V04", "V07",
                                    "V02", "V06"]),
    ("max_af_pct=&sort=-gnomad_af", ["V06", "V02", "V07", "V04", "V08", "V01", "V10", "V03",
                                     "V09", "V05"]),
])
def test_population_clinvar_and_inheritance_filters(client_for, manager, job, query, expected):
    response = client_for(manager).get(url_of(job) + "?" + query)
    assert response.status_code == 200, response.content.decode()[:2000]
    assert shown(response) == expected


def test_a_panel_filters_to_its_genes_and_shows_their_coverage(client_for, manager, outsider,
                                                              job):
    from jobs.models import GeneCoverage, GenePanel, GenePanelVersion

    panel = GenePanel.objects.create(lab=job.lab, name="Cancer")
    old = GenePanelVersion.objects.create(panel=panel, version=1, genes=["BRCA1"])
    new = GenePanelVersion.objects.create(panel=panel, version=2, genes=["BRCA1", "TP53", "PALB2"])
    GeneCoverage.objects.create(job=job, gene="BRCA1", transcript="T1", bases=5000,
                                bases_20x=5000, pct_20x=100.0)
    GeneCoverage.objects.create(job=job, gene="TP53", transcript="T2", bases=1000,
                                bases_20x=900, pct_20x=90.0)
    client = client_for(manager)
    response = client.get(url_of(job) + f"?max_af_pct=&panel={new.pk}")
    assert shown(response) == ["V01", "V02", "V03", "V04"]
    html = response.content.decode()
    assert "Coverage of Cancer v2</strong>: 98.3% of coding bases at ≥20x" in html
    assert "2 of 3 genes not fully covered" in html
    assert 'data-coverage-gene="PALB2"><td>PALB2</td><td colspan="3" class="muted">' in html
    assert shown(client.get(url_of(job) + f"?max_af_pct=&panel={old.pk}")) == ["V01", "V02"]
    other = GenePanel.objects.create(lab=outsider.lab, name="Theirs")
    theirs = GenePanelVersion.objects.create(panel=other, version=1, genes=["TP53"])
    refused = client.get(url_of(job) + f"?panel={theirs.pk}")
    assert refused.status_code == 400
    assert "That gene panel version is not one of this lab" in refused.content.decode()


def test_headings_link_to_the_other_direction_and_keep_the_filters(client_for, manager, job):
    html = client_for(manager).get(url_of(job) + "?impact=HIGH&sort=-depth&page=1"
                                   ).content.decode()
    assert 'aria-sort="descending"' in html
    assert 'href="?impact=HIGH&amp;sort=depth" hx-get="?impact=HIGH&amp;sort=depth" ' \
           'data-sort="depth"' in html
    assert 'href="?impact=HIGH&amp;sort=qual"' in html


def test_it_pages_fifty_rows_at_a_time(client_for, manager):
    job = make_job(manager, "S1")
    body = "\n".join(f"W{n:03d} S1 chr1 {1000 + n} A G 0/1 {n} 1,1 0.5 {n} PASS G{n % 7} T "
                     "missense - - - - - - - - -" for n in range(1, 121))
    assert load_variants(job=job, lines=tsv(body)) == 120
    client = client_for(manager)
    first = client.get(url_of(job))
    assert shown(first) == [f"W{n:03d}" for n in range(1, 51)]
    assert "Showing 1–50 of <strong>120</strong>" in first.content.decode()
    assert "Page 1 of 3" in first.content.decode()
    last = client.get(url_of(job) + "?sort=-depth&page=3")
    assert shown(last) == [f"W{n:03d}" for n in range(20, 0, -1)]
    assert "Showing 101–120 of <strong>120</strong>" in last.content.decode()
    assert shown(client.get(url_of(job) + "?page=99")) == shown(client.get(url_of(job) +
                                                                           "?page=3"))


def test_the_selector_pages_in_the_database(job):
    page = variant_page(job=job, filters={"sort": "position", "page": 2}, per_page=3)
    assert [v["variant_id"] for v in page.rows] == POSITION_ORDER[3:6]
    assert (page.total, page.job_total, page.num_pages, page.start, page.end) == (10, 10, 4, 4, 6)
    last = variant_page(job=job, filters={"sort": "position", "page": 4, "impact": []},
                        per_page=3)
    assert [v["variant_id"] for v in last.rows] == ["V05"] and not last.has_next
    past_the_end = variant_page(job=job, filters={"impact": ["HIGH"], "sort": "-qual",
                                                  "page": 9}, per_page=2)
    assert (past_the_end.page, past_the_end.num_pages, past_the_end.total) == (2, 2, 3)
    assert [v["variant_id"] for v in past_the_end.rows] == ["V03"]


def test_a_manager_sees_the_table(client_for, manager, job):
    response = client_for(manager).get(url_of(job) + "?max_af_pct=")
    assert len(shown(response)) == 10
    html = response.content.decode()
    assert "Variants of S1" in html and 'name="gene"' in html and "vendor/htmx.min.js" in html


def test_a_clinician_gets_403(client_for, clinician, job):
    assert client_for(clinician).get(url_of(job)).status_code == 403
    assert viewed_events() == []


def test_an_outsider_gets_404(client_for, outsider, job):
    client = client_for(outsider)
    assert client.get(url_of(job)).status_code == 404
    assert client.get(url_of(job, slug="lab-b")).status_code == 404
    other = make_job(outsider, "B1")
    assert client.get(url_of(other, slug="lab-b")).status_code == 200
    assert client_for(outsider).get(url_of(other, slug="lab-a")).status_code == 404
    assert [e.lab_id for e in viewed_events()] == [outsider.lab_id]


def test_each_page_view_writes_one_audit_event(client_for, manager, job):
    client = client_for(manager)
    client.get(url_of(job) + "?impact=HIGH&gene=tp53,dmd&sort=-qual")
    client.get(url_of(job) + "?page=1", HTTP_HX_REQUEST="true")
    first, second = viewed_events()
    assert (first.phi_accessed, first.data_exported) == (True, False)
    assert first.actor_email == "manager@lab-a.test" and first.lab_id == job.lab_id
    assert (first.resource_type, first.resource_id) == ("job", str(job.pk))
    assert first.details == {"job": str(job.pk), "sample": str(job.sample_id),
                             "filters": {"gene": ["tp53", "dmd"], "impact": ["HIGH"],
                                         "max_af_pct": 1.0},
                             "sort": "-qual", "page": 1, "total": 2}
    assert second.details["filters"] == {"max_af_pct": 1.0} and second.details["total"] == 7


@pytest.mark.parametrize("query,message", [
    ("min_depth=deep", "Min. depth: Minimum depth must be a whole number of reads."),
    ("min_depth=-1", "Min. depth: Minimum depth cannot be negative."),
    ("min_qual=high", "Min. quality: Minimum quality must be a number, such as 30."),
    ("impact=SEVERE", "Impact: Impact SEVERE is not one of High, Moderate, Low, Modifier."),
    ("genotype=2/2", "Genotype: Genotype 2/2 is not one of the listed genotypes."),
    ("consequence=transcript_ablation", "Consequence: Consequence transcript_ablation does not "
                                        "occur in this table; choose one from the list."),
    ("sort=pos;drop", "The table cannot be sorted by pos;drop; choose a column heading."),
    ("page=0", "Pages are numbered from 1."),
    ("page=two", "The page must be a whole number."),
    ("gene=BRCA1;+DROP+TABLE", "Gene: “BRCA1; DROP TABLE” is not a gene symbol"),
    ("max_af_pct=1%25", "Max. population AF (%): Maximum population frequency must be a "
                        "percentage, such as 1 or 0.1."),
    ("max_af_pct=120", "Maximum population frequency is a percentage: at most 100."),
    ("clinvar=harmful", "ClinVar: ClinVar harmful is not one of the listed groups."),
    ("panel=12", "Gene panel: That gene panel version is not one of this lab"),
])
def test_a_bad_filter_value_is_explained_not_a_server_error(client_for, manager, job, query,
                                                            message):
    response = client_for(manager).get(url_of(job) + "?" + query)
    html = response.content.decode()
    assert response.status_code == 400
    assert "These filters cannot be applied" in html
    assert message in html
    assert 'data-variant="' not in html and viewed_events() == []


def test_htmx_gets_only_the_results_block(client_for, manager, job):
    client = client_for(manager)
    partial = client.get(url_of(job) + "?impact=HIGH", HTTP_HX_REQUEST="true").content.decode()
    assert partial.lstrip().startswith('<div id="variant-results"')
    assert "<html" not in partial and shown_ids(partial) == ["V03", "V10", "V05"]
    assert 'id="variant-sort" value="position" hx-swap-oob="true"' in partial
    bad = client.get(url_of(job) + "?min_depth=x", HTTP_HX_REQUEST="true")
    assert bad.status_code == 400 and "<html" not in bad.content.decode()
    restore = client.get(url_of(job) + "?impact=HIGH", HTTP_HX_REQUEST="true",
                         HTTP_HX_HISTORY_RESTORE_REQUEST="true").content.decode()
    assert "<html" in restore and "hx-history=\"false\"" in restore


def shown_ids(html: str) -> list[str]:
    return re.findall(r'data-variant="([^"]+)"', html)


def test_it_says_when_there_is_nothing_to_show(client_for, manager):
    job = make_job(manager)
    job.status = JobStatus.RUNNING
    job.save()
    html = client_for(manager).get(url_of(job)).content.decode()
    assert "No variants are loaded for this analysis yet" in html


GENES = [f"GENE{n}" for n in range(1, 1801)] + ["BRCA1", "BRCA2", "TP53", "CFTR", "DMD", "TTN"]
CONSEQUENCES = [  # roughly an exome's spread, most severe rare
    ("synonymous", 22), ("missense", 20), ("intron", 25), ("splice_region", 3),
    ("missense&splice_region", 1), ("3_prime_utr", 9), ("5_prime_utr", 4), ("non_coding", 8),
    ("inframe_deletion", 1), ("inframe_insertion", 1), ("frameshift", 1), ("stop_gained", 1),
    ("splice_donor", 0.5), ("splice_acceptor", 0.5), ("start_lost", 0.2), ("stop_lost", 0.2),
    ("", 3)]
CHROMS = [(f"chr{n}", w) for n, w in zip(range(1, 23), [10, 7, 6, 4, 5, 5, 5, 4, 4, 4, 6, 5, 2,
                                                         3, 3, 4, 6, 2, 7, 3, 1, 2])] + \
         [("chrX", 3), ("chrY", 0.3), ("chrM", 0.1)]


AMINO = ["Ala", "Arg", "Asn", "Asp", "Cys", "Gln", "Glu", "Gly", "His", "Ile", "Leu", "Lys",
         "Met", "Phe", "Pro", "Ser", "Thr", "Trp", "Tyr", "Val"]


def generated_table(n: int, sample: str = "S1", seed: int = 5) -> list[str]:
    rnd = random.Random(seed)
    genes = rnd.choices(GENES, weights=[rnd.paretovariate(1.2) for _ in GENES], k=n)
    consequences = rnd.choices([c for c, _ in CONSEQUENCES], [w for _, w in CONSEQUENCES], k=n)
    chroms = rnd.choices([c for c, _ in CHROMS], [w for _, w in CHROMS], k=n)
    lines = ["\t".join(COLUMNS)]
    for i in range(n):
        depth = max(1, int(rnd.gammavariate(4, 15)))
        hom = rnd.random() < 0.38
        alt = depth if hom else rnd.randint(max(1, depth // 5), depth)
        qual = round(min(3000.0, rnd.gammavariate(2, 150) + 5), 2)
        gene = genes[i] if consequences[i] else ""
        ref, alt_allele = rnd.sample("ACGT", 2)
        if "frameshift" in consequences[i] or "inframe" in consequences[i]:
            alt_allele = ref + "".join(rnd.choices("ACGT", k=rnd.choice([1, 2, 3, 4, 6])))
        lines.append("\t".join([
            f"WES-{i:016x}", sample, chroms[i], str(1000 + i * 37), ref, alt_allele,
            "1/1" if hom else "0/1", str(depth), f"{depth - alt},{alt}", f"{alt / depth:.4f}",
            str(qual), "PASS" if qual >= 30 and depth >= 10 else "LowQual", gene,
            f"ENST{i % 9000:011d}" if gene else "", consequences[i],
            f"p.{rnd.choice(AMINO)}{rnd.randint(2, 900)}{rnd.choice(AMINO)}"
            if "missense" in consequences[i] else "", "", "", "",
            *population_and_clinvar(rnd)]))
    return lines


CLINVAR_VALUES = [("Pathogenic", 2), ("Likely_pathogenic", 2), ("Uncertain_significance", 6),
                  ("Conflicting_classifications_of_pathogenicity", 2), ("Likely_benign", 4),
                  ("Benign", 8)]


def population_and_clinvar(rnd) -> list[str]:
    """An exome's shape: most calls are common in the population (about 85% above 1%, as in a
    real exome), a few percent are absent from it, and about one in ten is in ClinVar."""
    exponent = rnd.uniform(-2, 0) if rnd.random() < 0.85 else rnd.uniform(-5.5, -2)
    af = "" if rnd.random() < 0.04 else f"{min(1.0, 10 ** exponent):.6g}"
    hom = "" if not af else str(int(float(af) ** 2 * 70_000))
    if rnd.random() < 0.1:
        significance = rnd.choices([c for c, _ in CLINVAR_VALUES],
                                   [w for _, w in CLINVAR_VALUES])[0]
        return [af, hom, significance, "criteria_provided,_single_submitter",
                str(rnd.randint(1, 3_000_000))]
    return [af, hom, "", "", ""]


def test_a_filtered_page_makes_the_same_few_queries_for_50_and_2000_variants(client_for,
                                                                            manager):
    """The viewer's queries do not grow with the table: a page filtered by a panel, ClinVar and
    two hits (over the default frequency limit) is a fixed handful of queries. Timings are not
    tested; bench/variants.py measures them on 50,000 variants."""
    from jobs.models import GeneCoverage, GenePanel, GenePanelVersion

    client = client_for(manager)
    counts, panel = {}, None
    for rows in (50, 2000):
        job = make_job(manager, f"Q{rows}")
        table = generated_table(rows, sample=f"Q{rows}")
        assert load_variants(job=job, lines=table) == rows
        genes = sorted({line.split("\t")[12] for line in table[1:]} - {""})
        GeneCoverage.objects.bulk_create(GeneCoverage(job=job, gene=g, bases=1000, bases_20x=990,
                                                      pct_20x=99.0) for g in genes)
        if panel is None:  # the small table's genes, for both jobs
            panel = GenePanelVersion.objects.create(
                panel=GenePanel.objects.create(lab=job.lab, name="Queries"), version=1,
                genes=genes)
        url = url_of(job) + (f"?panel={panel.pk}&clinvar=pathogenic&clinvar=uncertain"
                             "&clinvar=none&two_hits=on")
        client.get(url)  # the first view caches the table summary
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert shown(response)
        counts[rows] = len(queries)
    # Session, user, membership, job; the cached summary and its check; the panel; the genes with
    # two hits, the page's ids with the count, then its rows; their classifications, selections
    # and the panel's coverage; the audit event (savepoint, chain lock, last hash, insert,
    # release); presets, the selection count, the panel choices (count, rows).
    assert counts == {50: 22, 2000: 22}, counts


@pytest.mark.parametrize("sort", ["position", "-position", "-qual", "gene"])
def test_the_default_view_shows_the_rows_a_count_would_find(manager, sort):
    """The default view (only the population-frequency limit) takes its total from the table's
    summary instead of counting; its pages hold exactly the rows of the same query counted."""
    from django.db.models import Q

    job = make_job(manager, "D1")
    assert load_variants(job=job, lines=generated_table(400, sample="D1")) == 400
    rare = job.variants.filter(Q(gnomad_af__lte=0.01) | Q(gnomad_af__isnull=True))
    assert 0 < rare.count() < 400
    forced = {"max_af_pct": 1.0, "min_depth": 0}  # a second filter: counted, not summarised
    for page_number in (1, 2, 99):
        default = variant_page(job=job, filters={"max_af_pct": 1.0, "sort": sort,
                                                 "page": page_number}, per_page=20)
        counted = variant_page(job=job, filters={**forced, "sort": sort, "page": page_number},
                               per_page=20)
        assert default.total == counted.total == rare.count()
        assert (default.page, default.num_pages) == (counted.page, counted.num_pages)
        assert [r["id"] for r in default.rows] == [r["id"] for r in counted.rows]
        assert default.rows


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_manager_filters_and_sorts_in_chromium(chromium, live_server, manager):
    job = make_job(manager)
    load_variants(job=job, lines=generated_table(400, seed=11))
    give_totp(manager.user)
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(live_server.url + "/accounts/login/")
    page.fill("input[name=login]", "manager@lab-a.test")
    page.fill("input[name=password]", "correct-horse-battery-staple")
    page.click("button[type=submit]")
    enter_totp_code(page)
    page.wait_for_url(re.compile(r".*/labs/lab-a/$"))

    page.goto(live_server.url + url_of(job))
    assert page.locator("[data-variant]").count() == 50
    # htmx: ticking an impact box swaps the results and puts the filter in the address bar
    page.check("input[name=impact][value=HIGH]")
    page.check("input[name=impact][value=MODERATE]")
    page.wait_for_url(re.compile(r".*impact=MODERATE.*"))
    page.fill("input[name=min_depth]", "40")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*min_depth=40.*"))
    page.click("th a[data-sort=qual]")
    page.wait_for_selector("th[aria-sort=ascending] a[data-sort=qual]")
    page.click("th a[data-sort=qual]")
    page.wait_for_selector("th[aria-sort=descending] a[data-sort=qual]")
    page.wait_for_url(re.compile(r".*sort=-qual.*"))

    expected = variant_page(job=job, filters={"impact": ["HIGH", "MODERATE"], "min_depth": 40,
                                              "max_af_pct": 1.0, "sort": "-qual", "page": 1})
    ids = page.locator("[data-variant]").evaluate_all("rows => rows.map(r => r.dataset.variant)")
    assert ids == [v["variant_id"] for v in expected.rows] and 0 < len(ids) <= 50
    count = page.locator("[data-variant-count]").get_attribute("data-variant-count")
    assert int(count) == expected.total
    # the sort survives a filter change made after it (the hidden field follows the headings)
    page.check("input[name=pass_only]")
    page.wait_for_url(re.compile(r".*pass_only=on.*"))
    assert "sort=-qual" in page.url
    screenshot(page, "variants-filtered")

    # the same address without JavaScript gives the same page
    plain = chromium.new_context(java_script_enabled=False, storage_state=context.storage_state())
    nojs = plain.new_page()
    nojs.goto(page.url)
    assert nojs.locator("[data-variant]").evaluate_all(
        "rows => rows.map(r => r.dataset.variant)") == page.locator("[data-variant]").evaluate_all(
        "rows => rows.map(r => r.dataset.variant)")
    nojs.goto(live_server.url + url_of(job) + "?min_depth=-3&gene=BRCA1;TP53")
    assert "These filters cannot be applied" in nojs.content()
    screenshot(nojs, "variants-bad-filter")
    plain.close()
    context.close()


def test_a_page_of_rows_links_each_row_from_one_reversed_url():
    """common.urls.url_with_id: the same URL as `reverse` for each id, int or UUID, whatever
    digits the other arguments hold."""
    import uuid

    from django.urls import reverse

    from common.urls import url_with_id

    job_id = uuid.UUID("98765432-1098-7654-3210-987654321098")  # holds the int placeholder
    template = url_with_id("jobs:variant_detail", "lab-a", job_id, kind="int")
    for pk in (1, 42, 9876543210):
        assert template.format(id=pk) == reverse("jobs:variant_detail", args=["lab-a", job_id, pk])
    sample = uuid.uuid4()
    assert url_with_id("jobs:sample_detail", "lab-a").format(id=sample) == reverse(
        "jobs:sample_detail", args=["lab-a", sample])

