"""The simulated sample: deterministic, and shaped like what the pipeline must handle."""

import gzip
import hashlib
import json

from nfsupport import PIPELINE, SAMPLE, fasta_sequences, run, vcf_records

FILES = ["ref.fa", "genes.gff3", "targets.bed", "truth.vcf", f"{SAMPLE}_R1.fastq.gz",
         f"{SAMPLE}_R2.fastq.gz", "manifest.json"]


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
