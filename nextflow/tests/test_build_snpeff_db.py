"""bin/build_snpeff_db: the snpEff database of a reference bundle, built once per bundle."""

import pytest

from nfsupport import BIN, run

pytestmark = [pytest.mark.needs_tools, pytest.mark.needs_snpeff]


def build(testdata, tmp_path, **replace):
    args = {"reference": testdata / "ref.fa", "annotation": testdata / "genes.gff3",
            "outdir": tmp_path / "db"}
    args.update(replace)
    return run([BIN / "build_snpeff_db", *[x for k, v in args.items() for x in (f"--{k}", v)],
                "--memory", "1g"], env={"HOME": str(tmp_path)})


def test_it_builds_the_database_of_the_generated_genome(snpeff_db):
    db, res, seconds, home = snpeff_db
    assert res.returncode == 0, res.stderr
    assert db.is_file() and db.stat().st_size > 10_000
    # every simulated gene, each with its one coding transcript joined to its exons
    assert "36 genes, 36 protein-coding transcripts" in res.stderr, res.stderr
    log = (db.parent / "build_snpeff_db.log").read_text()
    assert "-gff3" in log and "-noLog" in log and "-nodownload" in log
    assert not (home / ".snpEff").exists(), "snpEff used the home directory"
    print(f"build_snpeff_db: {seconds:.1f} s")


def test_it_rejects_missing_and_wrong_inputs(testdata, tmp_path):
    res = build(testdata, tmp_path, reference=tmp_path / "nope.fa")
    assert res.returncode == 2 and "reference FASTA not found" in res.stderr
    res = build(testdata, tmp_path, annotation=testdata / "targets.bed")
    assert res.returncode == 2 and "not a GFF3 file" in res.stderr
    res = build(testdata, tmp_path, reference=testdata / "genes.gff3")
    assert res.returncode == 2 and "not a FASTA file" in res.stderr
    assert not (tmp_path / "db" / "snpEffectPredictor.bin").exists()


def test_it_rejects_gene_models_on_contigs_the_reference_does_not_have(testdata, tmp_path):
    gff = tmp_path / "genes.gff3"
    # (snpEff itself takes chr1 and 1 for the same contig; scaffold_1 is another one)
    gff.write_text("".join(l if l.startswith("#") else l.replace("chr", "scaffold_", 1)
                           for l in open(testdata / "genes.gff3")))
    res = build(testdata, tmp_path, annotation=gff)
    assert res.returncode == 2 and "snpEff build failed" in res.stderr, res.stderr
    assert not (tmp_path / "db" / "snpEffectPredictor.bin").exists()


def test_it_rejects_gene_models_whose_cds_phases_are_wrong(testdata, tmp_path):
    lines = []
    for line in open(testdata / "genes.gff3"):
        f = line.rstrip("\n").split("\t")
        if len(f) == 9 and f[2] == "CDS":
            f[7] = str((int(f[7]) + 1) % 3)
        lines.append("\t".join(f) + "\n")
    gff = tmp_path / "genes.gff3"
    gff.write_text("".join(lines))
    res = build(testdata, tmp_path, annotation=gff)
    assert res.returncode == 2 and "stop codons inside the CDS" in res.stderr, res.stderr


def test_it_rejects_a_gff3_without_coding_sequences(testdata, tmp_path):
    gff = tmp_path / "genes.gff3"
    gff.write_text("".join(l for l in open(testdata / "genes.gff3") if "\tCDS\t" not in l))
    res = build(testdata, tmp_path, annotation=gff)
    assert res.returncode == 2 and "no CDS features" in res.stderr


def test_it_needs_its_arguments_and_a_sane_memory_size(testdata, tmp_path):
    res = run([BIN / "build_snpeff_db"])
    assert res.returncode == 2 and "required" in res.stderr
    res = run([BIN / "build_snpeff_db", "--reference", testdata / "ref.fa", "--annotation",
               testdata / "genes.gff3", "--outdir", tmp_path, "--memory", "lots"])
    assert res.returncode == 2 and "--memory" in res.stderr
    res = run([BIN / "build_snpeff_db", "--help"])
    assert res.returncode == 0 and "usage" in res.stdout.lower()
