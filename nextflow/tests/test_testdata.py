"""The simulated sample: deterministic, and shaped like what the pipeline must handle."""

import gzip
import hashlib
import json
import re

import pytest

from nfsupport import PIPELINE, SAMPLE, fasta_sequences, run, vcf_records

pytestmark = pytest.mark.needs_tools                 # bgzip and tabix for the source VCFs

FILES = ["ref.fa", "genes.gff3", "targets.bed", "truth.vcf", f"{SAMPLE}_R1.fastq.gz",
         f"{SAMPLE}_R2.fastq.gz", "manifest.json", "gnomad.vcf.gz", "gnomad.vcf.gz.tbi",
         "clinvar.vcf.gz", "clinvar.vcf.gz.tbi", "phenotype_to_genes.txt",
         "canonical_transcripts.txt", "truth_hgvs.tsv", "bundle.json"]
# What seed 42 wrote before the annotation sources were added (issue 11): adding them must not
# move a byte of these, or every count pinned in the pipeline tests would move with it.
BEFORE_ANNOTATION_SOURCES = {
    "ref.fa": "704c85f64af82a723a2de81d03e2adc406b33d55e6b1455b09dd0f73a8692fb9",
    "genes.gff3": "8ab2ee184a4abc3b0624897922d210678275ea32d6e85704cb3a0599914c676c",
    "targets.bed": "a4b5975389bcec1954632924c3dbf04bd401bbc9552aab6afbc6f3da627eb7f7",
    "truth.vcf": "f6218bae37e3aef995a37214e0d7dd67ef7862f22240f625c4f9ac4e2158bc77",
    f"{SAMPLE}_R1.fastq.gz": "653f07149cc3a2ee050ac34f20205a6cce7f2b3ce9573eda0dc8eb58e48edd1b",
    f"{SAMPLE}_R2.fastq.gz": "abd17d1f5f384c6602e7f436bf2588560300860fc87d44700ede89ecbb14634c",
    "manifest.json": "a29466ecd860524330c1afb9301b73bff13676a4dbdaa9193ec635ca5cd177e9",
}


def digest(folder):
    return {f: hashlib.sha256((folder / f).read_bytes()).hexdigest() for f in FILES}


def test_it_generates_the_same_bytes_for_the_same_seed(testdata, tmp_path):
    run(["python3", PIPELINE / "testdata" / "make_testdata.py", tmp_path / "again", "--seed", "42"],
        check=True)
    assert digest(tmp_path / "again") == digest(testdata)


def test_it_generates_different_data_for_another_seed(testdata, tmp_path):
    run(["python3", PIPELINE / "testdata" / "make_testdata.py", tmp_path / "other", "--seed", "7",
         "--depth", "20"], check=True)
    assert digest(tmp_path / "other")["ref.fa"] != digest(testdata)["ref.fa"]


def test_it_writes_a_reference_of_a_few_hundred_kb(testdata):
    seqs = fasta_sequences(testdata / "ref.fa")
    total = sum(map(len, seqs.values()))
    assert 2 <= len(seqs) <= 3 and 200_000 <= total <= 500_000
    gc = sum(s.count("G") + s.count("C") for s in seqs.values()) / total
    assert 0.38 < gc < 0.46
    assert any("A" * 12 in s or "T" * 12 in s for s in seqs.values())   # homopolymers


def test_it_writes_ensembl_style_gene_models(testdata):
    rows = [l.split("\t") for l in (testdata / "genes.gff3").read_text().splitlines()
            if not l.startswith("#")]
    types = {r[2] for r in rows}
    assert types == {"gene", "mRNA", "exon", "CDS", "five_prime_UTR", "three_prime_UTR"}
    for r in rows:
        attrs = dict(a.split("=", 1) for a in r[8].split(";"))
        if r[2] == "gene":
            assert attrs["ID"].startswith("gene:") and attrs["biotype"] == "protein_coding"
        elif r[2] == "mRNA":
            assert attrs["ID"].startswith("transcript:") and attrs["Parent"].startswith("gene:")
        else:
            assert attrs["Parent"].startswith("transcript:")
        if r[2] == "CDS":
            assert r[7] in {"0", "1", "2"}
    assert {r[6] for r in rows} == {"+", "-"}


def test_it_plants_variants_of_every_kind_inside_the_targets(testdata):
    targets = [l.split("\t") for l in (testdata / "targets.bed").read_text().splitlines()]
    truth = list(vcf_records(testdata / "truth.vcf"))
    snvs = [r for r in truth if len(r["ref"]) == len(r["alt"]) == 1]
    indels = [r for r in truth if r not in snvs]
    assert len(snvs) >= 150 and len(indels) >= 40
    gts = {r["format"][1] for r in truth}
    assert gts == {"0/1", "1/1"}
    assert len({(r["chrom"], r["pos"]) for r in truth}) < len(truth)   # multi-allelic sites
    for r in truth:
        assert any(c == r["chrom"] and int(s) < r["pos"] <= int(e) for c, s, e, _ in targets)
    # indels are left-aligned, and many sit in homopolymers/microsatellites
    seqs = fasta_sequences(testdata / "ref.fa")
    in_repeat = 0
    for r in indels:
        anchor, changed = r["ref"][0], (r["ref"][1:] or r["alt"][1:])
        assert r["ref"][0] == r["alt"][0] and min(len(r["ref"]), len(r["alt"])) == 1, r
        assert seqs[r["chrom"]][r["pos"] - 1] == anchor
        assert anchor != changed[-1], f"not left-aligned: {r}"
        after = seqs[r["chrom"]][r["pos"] - 1 + len(r["ref"]):]
        in_repeat += after.startswith(changed * 2)
    assert in_repeat >= 10


def test_it_simulates_reads_with_adapters_errors_and_duplicates(testdata):
    manifest = json.loads((testdata / "manifest.json").read_text())
    with gzip.open(testdata / f"{SAMPLE}_R1.fastq.gz", "rt") as fh:
        lines = fh.read().splitlines()
    seqs, quals = lines[1::4], lines[3::4]
    assert len(seqs) == manifest["read_pairs"] and 15_000 < len(seqs) < 60_000
    assert {len(s) for s in seqs} == {100}
    assert sum("AGATCGGAAGAGC" in s for s in seqs) > 0.01 * len(seqs)
    assert len(set(seqs)) < len(seqs)                                   # PCR duplicates
    mean_q = sum(ord(c) - 33 for q in quals[:500] for c in q) / (500 * 100)
    assert 28 < mean_q < 38
    assert manifest["target_bases"] * 60 < manifest["read_pairs"] * 200 * 1.6


def test_it_keeps_the_bytes_it_wrote_before_the_annotation_sources(testdata):
    assert {f: digest(testdata)[f] for f in BEFORE_ANNOTATION_SOURCES} == BEFORE_ANNOTATION_SOURCES


def test_it_declares_the_bundle_with_its_sources(testdata):
    bundle = json.loads((testdata / "bundle.json").read_text())
    assert bundle["reference"] == "ref.fa" and bundle["targets"] == "targets.bed"
    assert bundle["annotation"] == "genes.gff3"
    assert bundle["canonical_transcripts"] == "canonical_transcripts.txt"
    assert set(bundle["sources"]) == {"gnomad", "clinvar", "hpo"}
    for key, source in bundle["sources"].items():
        assert set(source) == {"file", "name", "version"} and source["version"], key
        assert (testdata / source["file"]).is_file(), key
    for key in ("gnomad", "clinvar"):
        assert (testdata / (bundle["sources"][key]["file"] + ".tbi")).is_file()
    for key in ("reference", "targets", "annotation", "canonical_transcripts"):
        assert (testdata / bundle[key]).is_file()


def test_it_names_one_canonical_transcript_per_gene_as_snpeff_reads_them(testdata):
    gff = [l.split("\t") for l in (testdata / "genes.gff3").read_text().splitlines()
           if not l.startswith("#")]
    transcripts = {re.search(r"ID=transcript:(\w+);Parent=gene:(\w+)", r[8]).groups()
                   for r in gff if r[2] == "mRNA"}
    lines = (testdata / "canonical_transcripts.txt").read_text().splitlines()
    pairs = [tuple(l.split("\t")) for l in lines]
    assert all(len(p) == 2 for p in pairs)               # gene_id<TAB>transcript_id, no header
    assert {(g, t) for g, t in pairs} == {(g, t) for t, g in transcripts}
    assert len(pairs) == json.loads((testdata / "manifest.json").read_text())["genes"]


def test_it_writes_gnomad_and_clinvar_like_the_real_files(testdata):
    truth = {(r["chrom"], r["pos"], r["ref"], r["alt"]) for r in vcf_records(testdata / "truth.vcf")}
    with gzip.open(testdata / "gnomad.vcf.gz", "rt") as fh:
        header = [l for l in fh if l.startswith("##")]
    for tag, kind in (("AC", "Integer"), ("AN", "Integer"), ("AF", "Float"), ("nhomalt", "Integer")):
        assert any(l.startswith(f"##INFO=<ID={tag},") and f"Type={kind}" in l for l in header), tag
    gnomad = list(vcf_records(testdata / "gnomad.vcf.gz"))
    keys = {(r["chrom"], r["pos"], r["ref"], r["alt"]) for r in gnomad}
    afs = [float(re.search(r"AF=([^;]+)", r["info"]).group(1)) for r in gnomad]
    assert any(0.02 <= af <= 0.4 for af in afs) and any(af < 0.001 for af in afs)
    assert 0.3 * len(truth) < len(keys & truth) < 0.8 * len(truth)      # some planted, not all
    assert keys - truth                                                  # sites not planted
    assert {(c, p) for c, p, _, _ in keys - truth} & {(c, p) for c, p, _, _ in truth}, \
        "a site with another ALT at a planted position (must not match the planted variant)"
    with gzip.open(testdata / "clinvar.vcf.gz", "rt") as fh:
        header = "".join(l for l in fh if l.startswith("##"))
    assert "##source=ClinVar" in header and "##fileDate=" in header
    clinvar = list(vcf_records(testdata / "clinvar.vcf.gz"))
    assert len({(r["chrom"], r["pos"], r["ref"], r["alt"]) for r in clinvar} & truth) > 10
    ids = [r for r in gzip.open(testdata / "clinvar.vcf.gz", "rt").read().splitlines()
           if not r.startswith("#")]
    assert all(l.split("\t")[2].isdigit() for l in ids)                 # ID = variation id
    info = [dict(kv.split("=", 1) for kv in r["info"].split(";")) for r in clinvar]
    assert {"Pathogenic", "Benign"} <= {i["CLNSIG"] for i in info}
    assert all(re.fullmatch(r"SIM\d+:\d+", i["GENEINFO"]) for i in info)
    assert all({"ALLELEID", "CLNSIG", "CLNREVSTAT", "CLNDN"} <= set(i) for i in info)


def test_it_maps_hpo_terms_to_several_genes(testdata):
    lines = (testdata / "phenotype_to_genes.txt").read_text().splitlines()
    assert lines[0] == "hpo_id\thpo_name\tncbi_gene_id\tgene_symbol\tdisease_id"
    rows = [l.split("\t") for l in lines[1:]]
    terms = {r[0] for r in rows}
    assert len(terms) >= 5 and all(re.fullmatch(r"HP:\d{7}", t) for t in terms)
    assert all(sum(r[0] == t for r in rows) >= 3 for t in terms)
    genes = [r[3] for r in rows]
    assert any(genes.count(g) > 1 for g in genes)                      # genes under several terms
    assert all(re.fullmatch(r"SIM\d+", g) for g in genes)


def test_it_writes_hgvs_for_every_planted_snv_from_the_gene_models(testdata):
    snvs = [r for r in vcf_records(testdata / "truth.vcf") if len(r["ref"]) == len(r["alt"]) == 1]
    lines = (testdata / "truth_hgvs.tsv").read_text().splitlines()
    assert lines[0].split("\t") == ["chrom", "pos", "ref", "alt", "gene", "transcript", "hgvs_c",
                                    "hgvs_p"]
    rows = [dict(zip(lines[0].split("\t"), l.split("\t"))) for l in lines[1:]]
    assert {(r["chrom"], int(r["pos"]), r["ref"], r["alt"]) for r in rows} == \
        {(r["chrom"], r["pos"], r["ref"], r["alt"]) for r in snvs}      # all are in exons
    for r in rows:
        assert re.fullmatch(r"c\.(-|\*)?\d+[ACGT]>[ACGT]", r["hgvs_c"]), r
        coding = not r["hgvs_c"].startswith(("c.-", "c.*"))
        assert bool(r["hgvs_p"]) == coding, r
    kinds = {re.sub(r"\d+", "N", r["hgvs_p"]) for r in rows}
    assert len([k for k in kinds if re.fullmatch(r"p\.[A-Z][a-z]{2}N[A-Z][a-z]{2}", k)]) > 20
    assert any(k.endswith("*") for k in kinds)                           # stop gained


def test_it_generates_uneven_capture_with_the_same_bytes_for_the_same_seed(tmp_path):
    """--capture uneven draws from its own generator: deterministic, and the reference, genes
    and targets are those of the uniform sample (only the reads and the truth differ)."""
    for name in ("a", "b"):
        run(["python3", PIPELINE / "testdata" / "make_testdata.py", tmp_path / name, "--seed", "42",
             "--sample", SAMPLE, "--capture", "uneven"], check=True)
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    uneven = digest(tmp_path / "a")
    for name in ("ref.fa", "genes.gff3", "targets.bed"):
        assert uneven[name] == BEFORE_ANNOTATION_SOURCES[name], name
    assert uneven["truth.vcf"] != BEFORE_ANNOTATION_SOURCES["truth.vcf"]
    kinds = [r["info"] for r in vcf_records(tmp_path / "a" / "truth.vcf")]
    assert kinds.count("TYPE=MNP") >= 10
