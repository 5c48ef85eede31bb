"""bin/annotate with the bundle's sources (snpEff database, canonical transcripts, gnomAD, ClinVar)
and bin/final_table's columns for them, checked against what the generator planted: HGVS from
its own gene models (truth_hgvs.tsv), frequencies and classifications from its source VCFs."""

import gzip
import json
import re
import time

import pytest

from nfsupport import BIN, SAMPLE, read_table, run, vcf_records

pytestmark = [pytest.mark.needs_tools, pytest.mark.needs_snpeff]
S = SAMPLE
SOURCE_COLUMNS = ["gnomad_af", "gnomad_hom", "clinvar_significance", "clinvar_review_status",
                  "clinvar_id"]
ENV = {"SNPEFF_MEMORY": "1g"}


def key(r):
    return (r["chrom"], int(r["pos"]), r["ref"], r["alt"])


def truth_hgvs(testdata):
    header, rows = read_table(testdata / "truth_hgvs.tsv")
    return {key(r): r for r in rows}


def source(path):
    """{(chrom, pos, ref, alt): (ID, {INFO})} of a source VCF."""
    out = {}
    with gzip.open(path, "rt") as fh:
        for line in fh:
            if not line.startswith("#"):
                f = line.rstrip("\n").split("\t")
                out[(f[0], int(f[1]), f[3], f[4])] = (
                    f[2], dict(kv.split("=", 1) for kv in f[7].split(";")))
    return out


@pytest.fixture(scope="module")
def truth_annotated(testdata, snpeff_db, tmp_path_factory):
    """Every planted variant (truth.vcf) through annotate with all sources, then final_table."""
    db, built, _, home = snpeff_db
    assert built.returncode == 0, built.stderr
    d = tmp_path_factory.mktemp("annotated")
    run(["bcftools", "view", "-Oz", "-o", d / "truth.vcf.gz", testdata / "truth.vcf"], check=True)
    run(["tabix", "-p", "vcf", d / "truth.vcf.gz"], check=True)
    t = testdata
    started = time.monotonic()
    res = run([BIN / "annotate", "--sample", S, "--vcf", d / "truth.vcf.gz", "--reference",
               t / "ref.fa", "--annotation", t / "genes.gff3", "--snpeff-db", db,
               "--canonical", t / "canonical_transcripts.txt", "--gnomad", t / "gnomad.vcf.gz",
               "--clinvar", t / "clinvar.vcf.gz", "--outdir", d],
              env={**ENV, "HOME": str(home)})
    seconds = time.monotonic() - started
    assert res.returncode == 0, res.stderr
    print(f"annotate (snpEff + gnomAD + ClinVar): {seconds:.1f} s")
    run([BIN / "final_table", "--sample", S, "--vcf", d / f"{S}.vcf.gz", "--outdir", d],
        check=True)
    header, rows = read_table(d / f"{S}_Final_.txt")
    return d, header, {key(r): r for r in rows}, home


def annotate(testdata, vcf, tmp_path, *extra):
    return run([BIN / "annotate", "--sample", S, "--vcf", vcf, "--reference",
                testdata / "ref.fa", "--annotation", testdata / "genes.gff3",
                "--outdir", tmp_path / "out", *extra], env=ENV)


def test_it_adds_the_five_source_columns_after_the_nineteen(truth_annotated):
    _, header, rows, home = truth_annotated
    assert header[17:] == ["protein_change", "dna_change"] + SOURCE_COLUMNS
    assert len(header) == 24
    assert not (home / ".snpEff").exists()


def test_it_gives_the_hgvs_of_every_planted_snv_as_the_gene_models_do(truth_annotated, testdata):
    _, _, rows, _ = truth_annotated
    expected = truth_hgvs(testdata)
    assert len(expected) == json.loads((testdata / "manifest.json").read_text())["truth_snvs"]
    wrong = {k: (rows[k]["gene"], rows[k]["transcript"], rows[k]["hgvs_c"], rows[k]["hgvs_p"])
             for k, want in expected.items()
             if (rows[k]["gene"], rows[k]["transcript"], rows[k]["hgvs_c"], rows[k]["hgvs_p"])
             != (want["gene"], want["transcript"], want["hgvs_c"], want["hgvs_p"])}
    assert wrong == {}
    coding = [k for k, r in expected.items() if r["hgvs_p"]]
    assert len(coding) > 100
    assert {rows[k]["consequence"] for k in coding} >= {"missense_variant", "synonymous_variant",
                                                        "stop_gained"}


def test_it_gives_indels_hgvs_too(truth_annotated):
    _, _, rows, _ = truth_annotated
    indels = [r for k, r in rows.items() if len(k[2]) != len(k[3])]
    coding = [r for r in indels if r["consequence"].startswith(
        ("frameshift", "conservative_inframe", "disruptive_inframe"))]
    assert len(coding) > 10
    for r in coding:
        assert re.fullmatch(r"c\.\d+(_\d+)?(del|dup|ins)[ACGT]*", r["hgvs_c"]), r
        assert re.fullmatch(r"p\.[A-Z][a-z]{2}\d+\S*(fs|del|dup|ins)\S*", r["hgvs_p"]), r


def test_it_copies_gnomad_frequencies_of_the_same_allele_only(truth_annotated, testdata):
    _, _, rows, _ = truth_annotated
    gnomad = source(testdata / "gnomad.vcf.gz")
    found = absent = decoys = 0
    for k, r in rows.items():
        if k in gnomad:
            info = gnomad[k][1]
            assert float(r["gnomad_af"]) == pytest.approx(float(info["AF"]), rel=1e-5), (k, r)
            assert int(r["gnomad_hom"]) == int(info["nhomalt"]), (k, r)
            found += 1
        else:
            assert r["gnomad_af"] == r["gnomad_hom"] == "", (k, r)
            absent += 1
            decoys += any(g[:3] == k[:3] for g in gnomad)     # another ALT at this position
    assert found > 50 and absent > 50 and decoys > 0, (found, absent, decoys)
    assert any(float(rows[k]["gnomad_af"]) > 0.02 for k in rows if k in gnomad)
    assert any(float(rows[k]["gnomad_af"]) < 0.001 for k in rows if k in gnomad)


def test_it_copies_clinvar_classification_review_status_and_id(truth_annotated, testdata):
    _, _, rows, _ = truth_annotated
    clinvar = source(testdata / "clinvar.vcf.gz")
    found = 0
    for k, r in rows.items():
        got = (r["clinvar_significance"], r["clinvar_review_status"], r["clinvar_id"])
        if k in clinvar:
            vid, info = clinvar[k]
            assert got == (info["CLNSIG"], info["CLNREVSTAT"], vid), (k, r)
            found += 1
        else:
            assert got == ("", "", ""), (k, r)
    assert found > 10
    # ClinVar's own spelling, commas included
    assert any("," in rows[k]["clinvar_review_status"] for k in rows if k in clinvar)


def test_it_annotates_only_the_canonical_transcripts(testdata, snpeff_db, tmp_path):
    """snpEff's -canonList is applied: a list naming a transcript the database does not have
    stops the step with a message naming it (each simulated gene has one transcript, so the
    right list annotates as before)."""
    db = snpeff_db[0]
    snv = next(r for r in vcf_records(testdata / "truth.vcf") if r["chrom"] == "chr1")
    lines = (testdata / "canonical_transcripts.txt").read_text().splitlines()
    (tmp_path / "canon.txt").write_text(
        "\n".join(l.split("\t")[0] + "\tENST00000100001.3" if i == 0 else l
                  for i, l in enumerate(lines)) + "\n")
    vcf = tmp_path / "one.vcf"
    vcf.write_text("".join(l for l in open(testdata / "truth.vcf") if l.startswith("#"))
                   + f"chr1\t{snv['pos']}\t.\t{snv['ref']}\t{snv['alt']}\t.\tPASS\t.\tGT\t0/1\n")
    run(["bgzip", vcf], check=True)
    run(["tabix", "-p", "vcf", f"{vcf}.gz"], check=True)
    res = annotate(testdata, f"{vcf}.gz", tmp_path, "--snpeff-db", db,
                   "--canonical", tmp_path / "canon.txt")
    assert res.returncode == 2
    assert "--canonical names transcript ENST00000100001.3 (gene SIM1)" in res.stderr, res.stderr
    res = annotate(testdata, f"{vcf}.gz", tmp_path, "--snpeff-db", db,
                   "--canonical", testdata / "canonical_transcripts.txt")
    assert res.returncode == 0, res.stderr
    assert "ENST00000100001" in next(vcf_records(tmp_path / "out" / f"{S}.vcf.gz"))["info"]
    (tmp_path / "header.txt").write_text("gene_id\ttranscript_id\tsource\n" + "\n".join(lines))
    res = annotate(testdata, f"{vcf}.gz", tmp_path, "--snpeff-db", db,
                   "--canonical", tmp_path / "header.txt")
    assert res.returncode == 2 and "gene_id<TAB>transcript_id" in res.stderr


def test_it_keeps_bcftools_csq_without_a_snpeff_database(ok):
    d = ok("final_table")
    header, rows = read_table(d / f"{S}_Final_.txt")
    assert header[19:] == SOURCE_COLUMNS
    assert all(r[c] == "" for r in rows for c in SOURCE_COLUMNS)       # no source, no value
    assert any(r["consequence"] == "missense" for r in rows)            # csq's terms


@pytest.mark.parametrize("option, make, message", [
    ("--gnomad", lambda d, t: d / "missing.vcf.gz", "--gnomad file not found"),
    ("--clinvar", lambda d, t: d / "missing.vcf.gz", "--clinvar file not found"),
    ("--gnomad", lambda d, t: copy(t / "gnomad.vcf.gz", d / "noindex.vcf.gz"),
     "--gnomad: no index beside"),
    ("--clinvar", lambda d, t: plain(t / "clinvar.vcf.gz", d / "plain.vcf.gz"),
     "--clinvar: not a bgzipped VCF"),
    ("--gnomad", lambda d, t: t / "clinvar.vcf.gz", "--gnomad: " ),
    ("--clinvar", lambda d, t: renamed(t / "clinvar.vcf.gz", d / "nochr.vcf.gz"),
     "has none of the calls' contigs"),
    ("--canonical", lambda d, t: d / "missing.txt", "--canonical file not found"),
    ("--snpeff-db", lambda d, t: d / "missing.bin", "--snpeff-db (snpEffectPredictor.bin) not found"),
])
def test_it_rejects_a_source_that_is_declared_but_not_usable(testdata, tmp_path, option, make,
                                                             message):
    d = tmp_path
    run(["bcftools", "view", "-Oz", "-o", d / "truth.vcf.gz", testdata / "truth.vcf"], check=True)
    res = annotate(testdata, d / "truth.vcf.gz", tmp_path, option, make(d, testdata))
    assert res.returncode == 2, res.stderr
    assert message in res.stderr and res.stderr.startswith("annotate: error:"), res.stderr
    assert not (tmp_path / "out" / f"{S}.vcf.gz").exists()


def copy(src, dest):
    dest.write_bytes(src.read_bytes())
    return dest


def plain(src, dest):
    dest.write_bytes(gzip.decompress(src.read_bytes()))
    (dest.parent / (dest.name + ".tbi")).write_bytes(b"x")
    return dest


def renamed(src, dest):
    text = gzip.decompress(src.read_bytes()).decode()
    (dest.parent / "nochr.vcf").write_text(re.sub(r"(?m)^chr", "", text)
                                           .replace("<ID=chr", "<ID="))
    run(["bgzip", "-f", dest.parent / "nochr.vcf"], check=True)
    run(["tabix", "-p", "vcf", dest], check=True)
    return dest


def test_it_takes_the_ann_entry_of_the_rows_alt_and_the_most_severe(tmp_path):
    """final_table on a hand-made snpEff VCF: an entry for another ALT is never reported, and of
    two transcripts the more severe consequence wins."""
    ann = ("T|synonymous_variant|LOW|G1|ENSG1|transcript|ENST1|protein_coding|1/2|c.3G>T|"
           "p.Leu1Leu|3/9|3/9|1/3||,"
           "T|stop_gained|HIGH|G2|ENSG2|transcript|ENST2|protein_coding|1/2|c.9G>T|p.Glu3*|"
           "9/9|9/9|3/3||,"
           "A|start_lost|HIGH|G1|ENSG1|transcript|ENST1|protein_coding|1/2|c.1A>A|p.Met1?|"
           "1/9|1/9|1/3||")
    vcf = tmp_path / "x.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n##contig=<ID=chr1,length=100>\n"
                   '##INFO=<ID=ANN,Number=.,Type=String,Description="snpEff">\n'
                   "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tX\n"
                   f"chr1\t10\t.\tG\tT\t50\tPASS\tANN={ann}\tGT:AD\t0/1:5,5\n")
    run(["bgzip", vcf], check=True)
    run([BIN / "final_table", "--sample", "X", "--vcf", f"{vcf}.gz", "--outdir", tmp_path],
        check=True)
    _, rows = read_table(tmp_path / "X_Final_.txt")
    assert [(r["gene"], r["transcript"], r["consequence"], r["hgvs_c"], r["hgvs_p"])
            for r in rows] == [("G2", "ENST2", "stop_gained", "c.9G>T", "p.Glu3*")]
    assert all(rows[0][c] == "" for c in SOURCE_COLUMNS)
