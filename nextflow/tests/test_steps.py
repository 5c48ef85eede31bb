"""Each bin/ step run on its own on generated data, and its handling of bad input."""

import gzip
import json
import re
from collections import Counter

import pytest

from nfsupport import BIN, SAMPLE, read_table, run, steps, vcf_records

pytestmark = pytest.mark.needs_tools
S = SAMPLE


def samtools(*args, cwd=None):
    return run(["samtools", *args], cwd=cwd, check=True).stdout


@pytest.mark.parametrize("script", [s["script"] for s in steps()] + ["run-local"])
def test_it_documents_every_step_with_help(script):
    res = run([BIN / script, "--help"])
    assert res.returncode == 0, res.stderr
    assert "usage" in res.stdout.lower()


@pytest.mark.parametrize("script", [s["script"] for s in steps()])
def test_it_rejects_unknown_arguments(script):
    required = {"final_table": ["--vcf", "x.vcf.gz"],
                "write_metadata": ["--runner", "local", "--reference", "ref.fa"],
                "qc_summary": ["--fastp-json", "f.json", "--flagstat", "f.txt", "--markdup",
                               "m.txt", "--bam", "x.bam", "--targets", "t.bed"]}
    res = run([BIN / script, "--sample", S, *required.get(script, []), "--no-such-option", "x"])
    assert res.returncode == 2
    assert "--no-such-option" in res.stderr


@pytest.mark.parametrize("script", [s["script"] for s in steps()])
def test_it_requires_its_arguments(script):
    res = run([BIN / script])
    assert res.returncode != 0
    assert "required" in res.stderr


def test_it_trims_reads_and_reports_qc_with_fastp(ok):
    d = ok("fastp_qc")
    for name in (f"{S}_R1.trimmed.fastq.gz", f"{S}_R2.trimmed.fastq.gz", f"{S}.fastp.html"):
        assert (d / name).stat().st_size > 0
    report = json.loads((d / f"{S}.fastp.json").read_text())
    assert report["adapter_cutting"]["adapter_trimmed_reads"] > 0   # planted read-through
    assert report["summary"]["after_filtering"]["total_reads"] > 10_000
    assert report["duplication"]["rate"] > 0.02                        # planted PCR duplicates
    with gzip.open(d / f"{S}_R1.trimmed.fastq.gz", "rt") as fh:
        assert fh.readline().startswith("@WESSIM:")


def test_it_aligns_with_a_full_read_group(ok):
    d = ok("bwa_align")
    rg = [l for l in samtools("view", "-H", f"{S}.aligned.bam", cwd=d).splitlines()
          if l.startswith("@RG")]
    assert len(rg) == 1
    fields = dict(f.split(":", 1) for f in rg[0].split("\t")[1:])
    assert fields == {"ID": "HK7WTDSXY.1", "SM": S, "LB": S, "PL": "ILLUMINA",
                      "PU": f"HK7WTDSXY.1.{S}"}
    assert samtools("view", "-c", "-F", "4", f"{S}.aligned.bam", cwd=d).strip() != "0"


def test_it_builds_the_reference_index_when_none_is_beside_it(ok, testdata):
    d = ok("bwa_align")
    for ext in ("amb", "ann", "bwt", "pac", "sa", "fai"):
        assert (d / f"ref.fa.{ext}").exists(), ext
        assert not (testdata / f"ref.fa.{ext}").exists(), "the user's reference folder was written"


def test_it_sorts_by_coordinate_with_mate_tags(ok):
    d = ok("sort_fixmate")
    header = samtools("view", "-H", f"{S}.sorted.bam", cwd=d)
    assert re.search(r"^@HD.*SO:coordinate", header, re.M)
    reads = samtools("view", f"{S}.sorted.bam", cwd=d).splitlines()[:2000]
    positions = [(l.split("\t")[2], int(l.split("\t")[3])) for l in reads]
    assert positions == sorted(positions)
    assert all("\tMC:Z:" in l and "\tms:i:" in l for l in reads[:200])


def test_it_keeps_flagstat_text(ok):
    d = ok("flagstat")
    text = (d / f"{S}.flagstat.txt").read_text()
    assert "in total (QC-passed reads + QC-failed reads)" in text
    assert re.search(r"properly paired \((9\d|100)\.\d+%", text)


def test_it_flags_duplicates_and_indexes_the_bam(ok):
    d = ok("mark_duplicates")
    assert (d / f"{S}.bam.bai").stat().st_size > 0
    dups = int(samtools("view", "-c", "-f", "1024", f"{S}.bam", cwd=d))
    total = int(samtools("view", "-c", f"{S}.bam", cwd=d))
    assert 0.03 < dups / total < 0.3
    assert "DUPLICATE TOTAL" in (d / f"{S}.markdup.txt").read_text()
    assert samtools("idxstats", f"{S}.bam", cwd=d).startswith("chr1\t")
    samtools("view", "-c", f"{S}.bam", "chr2:1000-50000", cwd=d)   # random access works


def test_it_calls_variants_only_inside_the_targets(ok, testdata):
    d = ok("call_variants")
    assert (d / f"{S}.raw.vcf.gz.tbi").stat().st_size > 0
    targets = [l.split("\t") for l in (testdata / "targets.bed").read_text().splitlines()]
    recs = list(vcf_records(d / f"{S}.raw.vcf.gz"))
    assert len(recs) > 150
    for r in recs:
        assert any(c == r["chrom"] and int(s) < r["pos"] + len(r["ref"]) - 1 and r["pos"] <= int(e)
                   for c, s, e, *_ in targets), r
        assert "AD" in r["format"][0].split(":") and "DP" in r["format"][0].split(":")
    assert any("," in r["alt"] for r in recs), "expected a multi-allelic call to split later"


def test_it_left_aligns_and_splits_multiallelic_records(ok):
    d = ok("normalise")
    raw = list(vcf_records(d / f"{S}.raw.vcf.gz"))
    norm = list(vcf_records(d / f"{S}.norm.vcf.gz"))
    assert (d / f"{S}.norm.vcf.gz.tbi").exists()
    assert not any("," in r["alt"] for r in norm)
    assert len(norm) == sum(r["alt"].count(",") + 1 for r in raw)


def test_a_split_het_alt_site_keeps_the_allele_fractions_of_the_whole_site(tmp_path):
    (tmp_path / "ref.fa").write_text(">chr1\n" + "ACGT" * 50 + "\n")
    vcf = tmp_path / "het-alt.vcf"
    vcf.write_text(
        "##fileformat=VCFv4.2\n##contig=<ID=chr1,length=200>\n"
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
        '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">\n'
        '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths">\n'
        f"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t{S}\n"
        f"chr1\t10\t.\tC\tA,T\t80\tPASS\t.\tGT:DP:AD\t1/2:32:2,15,15\n"
        f"chr1\t20\t.\tT\tG\t60\tPASS\t.\tGT:DP:AD\t0/1:30:20,10\n")
    run(["bgzip", "-f", str(vcf)], check=True)
    norm = run([BIN / "normalise", "--sample", S, "--vcf", f"{vcf}.gz", "--reference",
                tmp_path / "ref.fa", "--outdir", tmp_path], cwd=tmp_path)
    assert norm.returncode == 0, norm.stderr
    table = run([BIN / "final_table", "--sample", S, "--vcf", tmp_path / f"{S}.norm.vcf.gz",
                 "--outdir", tmp_path], cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    _, rows = read_table(tmp_path / f"{S}_Final_.txt")
    found = {(r["pos"], r["alt"]): (r["genotype"], r["allele_depth"], r["vaf"]) for r in rows}
    assert found == {("10", "A"): ("1/0", "2,15", "0.4688"), ("10", "T"): ("0/1", "2,15", "0.4688"),
                     ("20", "G"): ("0/1", "20,10", "0.3333")}


def test_it_soft_filters_without_removing_records(ok):
    d = ok("soft_filter")
    before = list(vcf_records(d / f"{S}.norm.vcf.gz"))
    after = list(vcf_records(d / f"{S}.filtered.vcf.gz"))
    assert (d / f"{S}.filtered.vcf.gz.tbi").exists()
    assert len(after) == len(before)
    assert {r["filter"] for r in after} <= {"PASS", "LowQual", "IndelGap"}
    for r in after:   # the defaults: QUAL < 20 or INFO/DP < 3, indels within 10 bp (docs: Filters)
        dp = int(re.search(r"(?:^|;)DP=(\d+)", r["info"]).group(1))
        assert (r["filter"] == "LowQual") == (float(r["qual"]) < 20 or dp < 3), r


def test_it_annotates_consequences_with_bcftools_csq(ok):
    d = ok("annotate")
    assert (d / f"{S}.vcf.gz.tbi").stat().st_size > 0
    recs = list(vcf_records(d / f"{S}.vcf.gz"))
    annotated = [r for r in recs if "BCSQ=" in r["info"]]
    assert len(annotated) > 0.9 * len(recs)
    consequences = {re.search(r"BCSQ=([^|]+)", r["info"]).group(1) for r in annotated}
    assert {"missense", "synonymous", "frameshift"} <= consequences


def test_it_writes_the_final_table(ok):
    d = ok("final_table")
    header, rows = read_table(d / f"{S}_Final_.txt")
    assert header[:12] == ["variant_id", "sample", "chrom", "pos", "ref", "alt", "genotype",
                           "depth", "allele_depth", "vaf", "qual", "filter"]
    assert {"gene", "transcript", "consequence", "hgvs_p", "hgvs_c"} <= set(header)
    assert len(rows) == len(list(vcf_records(d / f"{S}.vcf.gz")))
    assert len({r["variant_id"] for r in rows}) == len(rows)
    at_site = Counter((r["chrom"], r["pos"]) for r in rows)
    for r in rows:
        assert re.fullmatch(r"WES-[0-9a-f]{16}", r["variant_id"])
        assert r["sample"] == S and r["genotype"] in {"0/1", "1/1", "1/0", "0/0", "1/2"}
        ref_ad, alt_ad = map(int, r["allele_depth"].split(","))
        if at_site[r["chrom"], r["pos"]] == 1:   # biallelic from the start: alt/(ref+alt)
            assert abs(float(r["vaf"]) - alt_ad / (ref_ad + alt_ad)) < 1e-3
        else:   # one allele of a split site: its reads over all the site's reads, so less
            assert float(r["vaf"]) <= alt_ad / (ref_ad + alt_ad) + 1e-3
    missense = [r for r in rows if r["consequence"] == "missense"]
    assert missense and all(re.fullmatch(r"p\.[A-Z][a-z]{2}\d+[A-Z][a-z]{2}", r["hgvs_p"])
                            for r in missense)
    assert all(r["gene"].startswith("SIM") for r in missense)


def test_it_writes_metadata_with_versions_and_checksums(ok, testdata):
    d = ok("write_metadata")
    meta = json.loads((d / "metadata.json").read_text())
    assert meta["runner"] == "local" and meta["sample"] == S
    assert meta["pipeline"] == {"name": "wes-portal/wes-pipeline", "version": "0.1.0"}, \
        "from the manifest in nextflow.config"
    assert meta["reference"]["build"] == "WESSIM-1"
    assert re.fullmatch(r"[0-9a-f]{64}", meta["reference"]["sha256"])
    assert set(meta["tools"]) >= {"fastp", "bwa", "samtools", "bcftools", "python"}
    assert all(v and v[0].isdigit() for v in meta["tools"].values()), meta["tools"]
    import hashlib
    assert meta["inputs"]["r1"]["sha256"] == hashlib.sha256(
        (testdata / f"{S}_R1.fastq.gz").read_bytes()).hexdigest()
    assert set(meta["outputs"]) == {"vcf", "table"}


def test_it_rejects_missing_input_files(tmp_path):
    cases = {
        "fastp_qc": ["--r1", "nope_R1.fq.gz", "--r2", "nope_R2.fq.gz"],
        "bwa_align": ["--r1", "a.fq.gz", "--r2", "b.fq.gz", "--reference", "ref.fa"],
        "sort_fixmate": ["--bam", "x.bam"],
        "flagstat": ["--bam", "x.bam"],
        "mark_duplicates": ["--bam", "x.bam"],
        "call_variants": ["--bam", "x.bam", "--reference", "r.fa", "--targets", "t.bed"],
        "normalise": ["--vcf", "x.vcf.gz", "--reference", "r.fa"],
        "soft_filter": ["--vcf", "x.vcf.gz"],
        "annotate": ["--vcf", "x.vcf.gz", "--reference", "r.fa", "--annotation", "g.gff3"],
        "final_table": ["--vcf", "x.vcf.gz"],
        "qc_summary": ["--fastp-json", "f.json", "--flagstat", "f.txt", "--markdup", "m.txt",
                       "--bam", "x.bam", "--targets", "t.bed"],
        "write_metadata": ["--runner", "local", "--reference", "r.fa"],
    }
    assert set(cases) == {s["script"] for s in steps()}
    for script, args in cases.items():
        res = run([BIN / script, "--sample", S, *args], cwd=tmp_path)
        assert res.returncode == 2, (script, res.returncode, res.stderr)
        assert "not found" in res.stderr and script in res.stderr, (script, res.stderr)


def test_it_rejects_an_invalid_sample_name(testdata, tmp_path):
    res = run([BIN / "fastp_qc", "--sample", "../evil", "--r1", testdata / f"{S}_R1.fastq.gz",
               "--r2", testdata / f"{S}_R2.fastq.gz"], cwd=tmp_path)
    assert res.returncode == 2 and "invalid sample name" in res.stderr


def test_it_rejects_a_file_that_is_not_fastq(testdata, tmp_path):
    bad = tmp_path / "bad_R1.fastq.gz"
    bad.write_bytes(gzip.compress(b">not a fastq\nACGT\n"))
    res = run([BIN / "fastp_qc", "--sample", S, "--r1", bad, "--r2",
               testdata / f"{S}_R2.fastq.gz"], cwd=tmp_path)
    assert res.returncode == 2 and "not a FASTQ file" in res.stderr


def test_it_rejects_a_corrupt_bam(tmp_path):
    bad = tmp_path / "x.bam"
    bad.write_bytes(b"BAM\x01 this is not really a BAM")
    for script in ("sort_fixmate", "flagstat", "mark_duplicates"):
        res = run([BIN / script, "--sample", S, "--bam", bad], cwd=tmp_path)
        assert res.returncode == 2 and "not a valid BAM" in res.stderr, (script, res.stderr)


def test_it_rejects_an_unsorted_bam_for_duplicate_marking(ok):
    d = ok("bwa_align")
    res = run([BIN / "mark_duplicates", "--sample", S, "--bam", d / f"{S}.aligned.bam"], cwd=d)
    assert res.returncode == 2 and "not coordinate-sorted" in res.stderr


def test_it_rejects_targets_on_other_contigs(ok, testdata, tmp_path):
    d = ok("mark_duplicates")
    bed = tmp_path / "other.bed"
    bed.write_text("1\t100\t200\n2\t100\t300\n")   # GRCh37-style names vs chr1/chr2
    res = run([BIN / "call_variants", "--sample", S, "--bam", d / f"{S}.bam",
               "--reference", testdata / "ref.fa", "--targets", bed], cwd=tmp_path)
    assert res.returncode == 2
    assert "check chromosome names" in res.stderr and "not in the reference" in res.stderr


def test_it_rejects_a_malformed_bed_line(ok, testdata, tmp_path):
    d = ok("mark_duplicates")
    bed = tmp_path / "bad.bed"
    bed.write_text("chr1\t100\t200\nchr1\tstart\tend\n")
    res = run([BIN / "call_variants", "--sample", S, "--bam", d / f"{S}.bam",
               "--reference", testdata / "ref.fa", "--targets", bed], cwd=tmp_path)
    assert res.returncode == 2 and "line 2 is not BED" in res.stderr


def test_it_rejects_an_annotation_that_is_not_gff3(ok, testdata, tmp_path):
    d = ok("soft_filter")
    gtf = tmp_path / "genes.gtf"
    gtf.write_text('chr1\tx\texon\t1\t100\t.\t+\t.\tgene_id "G1";\n')
    res = run([BIN / "annotate", "--sample", S, "--vcf", d / f"{S}.filtered.vcf.gz",
               "--reference", testdata / "ref.fa", "--annotation", gtf], cwd=tmp_path)
    assert res.returncode == 2 and "not a GFF3 file" in res.stderr


def test_it_rejects_a_gff3_without_coding_transcripts(ok, testdata, tmp_path):
    d = ok("soft_filter")
    gff = tmp_path / "genes.gff3"
    gff.write_text((testdata / "genes.gff3").read_text().replace("Parent=transcript:", "Parent=transcript:X"))
    res = run([BIN / "annotate", "--sample", S, "--vcf", d / f"{S}.filtered.vcf.gz",
               "--reference", testdata / "ref.fa", "--annotation", gff], cwd=tmp_path)
    assert res.returncode == 2 and "no coding transcripts" in res.stderr


def test_it_rejects_bad_choices_and_numbers(ok, testdata, tmp_path):
    d = ok("soft_filter")
    res = run([BIN / "soft_filter", "--sample", S, "--vcf", d / f"{S}.norm.vcf.gz",
               "--min-qual", "high"], cwd=tmp_path)
    assert res.returncode == 2 and "--min-qual" in res.stderr
    res = run([BIN / "mark_duplicates", "--sample", S, "--bam", d / f"{S}.sorted.bam",
               "--method", "magic"], cwd=tmp_path)
    assert res.returncode == 2 and "samtools or picard" in res.stderr
    res = run([BIN / "call_variants", "--sample", S, "--bam", d / f"{S}.bam", "--reference",
               d / "ref.fa", "--targets", testdata / "targets.bed", "--caller", "gatk"],
              cwd=tmp_path, env={"PATH": "/usr/bin:/bin"})
    assert res.returncode == 2 and "gatk" in res.stderr


def test_it_rejects_a_vcf_that_is_not_gzipped_for_the_table(tmp_path):
    bad = tmp_path / "x.vcf.gz"
    bad.write_text("##fileformat=VCFv4.2\n")
    res = run([BIN / "final_table", "--sample", S, "--vcf", bad], cwd=tmp_path)
    assert res.returncode == 2 and "cannot read" in res.stderr
