"""bin/qc_summary: the QC figures of one sample, on the generated data and on a hand-made BAM whose
depths are known base by base."""

import gzip
import json
import subprocess

import pytest

from nfsupport import BIN, SAMPLE, run

pytestmark = pytest.mark.needs_tools
S = SAMPLE
THRESHOLDS = ["--min-q30-rate", "0.8", "--min-mapped-pct", "95", "--max-duplication-pct", "20",
              "--min-mean-depth", "50", "--min-pct-targets-20x", "90", "--min-pct-bases-20x", "90"]

# The hand-made BAM (1-based positions, all reads MAPQ 60 unless said otherwise):
#   c1:1-50     25 reads              + 5 duplicates (flag 1024, never counted)
#   c1:51-100   10 reads              + 5 reads of MAPQ 0 (counted only with --min-mapq 0)
#   c1:101-150  20 reads 20M10D20M    (depth 20, but 0 on the deleted c1:121-130)
#   c2          nothing; 5 unmapped pairs (10 reads) at the end
# Targets (BED, 0-based), depth sum and bases >= 20x at --min-mapq 20:
#   c1 0 50     1250  50   mean 25   >= 20x
#   c1 50 100    500   0   mean 10
#   c1 100 150   800  40   mean 16
#   c1 25 75     875  25   mean 17.5 (overlaps the first two)
#   c2 0 100       0   0   mean 0
#   c1 100 120   400  20   mean 20   >= 20x (the boundary counts)
# Merged, each base once: c1 0-150 and c2 0-100 = 250 bases, depth sum 2550, 90 bases >= 20x.
TINY_BED = "c1\t0\t50\nc1\t50\t100\nc1\t100\t150\nc1\t25\t75\nc2\t0\t100\nc1\t100\t120\n"
TINY_FASTP = {"summary": {"fastp_version": "0.23.2",
                          "before_filtering": {"total_reads": 1000, "total_bases": 100000,
                                               "q30_bases": 91234, "q30_rate": 0.91234},
                          "after_filtering": {"total_reads": 900, "total_bases": 88000,
                                              "q30_bases": 83600, "q30_rate": 0.95}}}
TINY_MARKDUP = ("COMMAND: samtools markdup -f x.txt in.bam out.bam\nREAD: 400\nWRITTEN: 400\n"
                "EXCLUDED: 0\nEXAMINED: 400\nPAIRED: 400\nSINGLE: 0\nDUPLICATE PAIR: 60\n"
                "DUPLICATE SINGLE: 0\nDUPLICATE PAIR OPTICAL: 0\nDUPLICATE SINGLE OPTICAL: 0\n"
                "DUPLICATE NON PRIMARY: 7\nDUPLICATE NON PRIMARY OPTICAL: 0\n"
                "DUPLICATE PRIMARY TOTAL: 60\nDUPLICATE TOTAL: 67\nESTIMATED_LIBRARY_SIZE: 999\n")


def sam_record(name, flag, chrom, pos, mapq, cigar, length):
    return "\t".join([name, str(flag), chrom, str(pos), str(mapq), cigar,
                      "=" if chrom != "*" else "*", str(pos), "0", "A" * length, "I" * length,
                      "RG:Z:rg1"])


@pytest.fixture
def tiny(tmp_path):
    lines = ["@HD\tVN:1.6\tSO:coordinate", "@SQ\tSN:c1\tLN:200", "@SQ\tSN:c2\tLN:100",
             f"@RG\tID:rg1\tSM:{S}"]

    def group(tag, n, flags, pos, mapq, cigar, length, chrom="c1"):
        for i in range(n):
            lines.append(sam_record(f"{tag}{i}", flags[i % 2], chrom, pos, mapq, cigar, length))

    group("a", 25, (99, 147), 1, 60, "50M", 50)
    group("d", 5, (99 + 1024, 147 + 1024), 1, 60, "50M", 50)
    group("b", 10, (99, 147), 51, 60, "50M", 50)
    group("q", 5, (65, 129), 51, 0, "50M", 50)            # paired, not properly
    group("e", 20, (99, 147), 101, 60, "20M10D20M", 40)
    group("u", 10, (77, 141), 0, 0, "*", 50, chrom="*")   # unmapped pairs
    (tmp_path / "tiny.sam").write_text("\n".join(lines) + "\n")
    run(["samtools", "sort", "-o", tmp_path / "tiny.bam", tmp_path / "tiny.sam"], check=True)
    run(["samtools", "index", tmp_path / "tiny.bam"], check=True)
    flagstat = run(["samtools", "flagstat", tmp_path / "tiny.bam"], check=True).stdout
    (tmp_path / "tiny.flagstat.txt").write_text(flagstat)
    (tmp_path / "tiny.bed").write_text(TINY_BED)
    (tmp_path / "tiny.fastp.json").write_text(json.dumps(TINY_FASTP))
    (tmp_path / "tiny.markdup.txt").write_text(TINY_MARKDUP)
    return tmp_path


def tiny_args(d, **replace):
    files = {"fastp-json": d / "tiny.fastp.json", "flagstat": d / "tiny.flagstat.txt",
             "markdup": d / "tiny.markdup.txt", "bam": d / "tiny.bam", "targets": d / "tiny.bed"}
    files.update(replace)
    return [x for k, v in files.items() for x in (f"--{k}", v)]


def summarise(d, *extra, **replace):
    res = run([BIN / "qc_summary", "--sample", S, *tiny_args(d, **replace), "--outdir", d / "out",
               *extra], cwd=d)
    assert res.returncode == 0, res.stderr
    return json.loads((d / "out" / f"{S}.qc.json").read_text()), res


def fails(d, *extra, **replace):
    res = run([BIN / "qc_summary", "--sample", S, *tiny_args(d, **replace), "--outdir", d / "out",
               *extra], cwd=d)
    assert res.returncode == 2, (res.returncode, res.stderr)
    assert not (d / "out" / f"{S}.qc.json").exists()
    assert res.stderr.startswith("qc_summary: error: "), res.stderr
    return res.stderr


def test_it_measures_known_depths_on_a_hand_made_bam(tiny):
    qc, res = summarise(tiny)
    assert qc["schema"] == "wes-portal/qc/1" and qc["sample"] == S
    assert qc["reads_before_filtering"] == 1000 and qc["reads_after_filtering"] == 900
    assert qc["q30_rate_before"] == 0.9123 and qc["q30_rate_after"] == 0.95
    assert qc["mapped_pct"] == 86.67                   # 65 of 75 primary reads
    assert qc["properly_paired_pct"] == 80.0           # 60 of 75 reads paired in sequencing
    assert qc["duplication_pct"] == 15.0               # primary duplicates: 60 of 400 examined
    assert qc["targets"] == 6 and qc["target_bases"] == 250
    assert qc["mean_target_depth"] == 10.2             # 2550 / 250
    assert qc["pct_target_bases_ge_20x"] == 36.0       # 90 / 250
    assert qc["pct_targets_ge_20x"] == 33.33           # 2 of 6: mean 25, and exactly 20
    assert qc["coverage"] == {"depth_cutoff": 20, "min_mapq": 20, "deletions_counted": False,
                              "excluded_reads": "unmapped, secondary, QC-failed, duplicate",
                              "targets_skipped": 0}
    assert qc["tools"]["fastp"] == "0.23.2" and qc["tools"]["samtools"][0].isdigit()
    # no thresholds given: no verdict
    assert qc["thresholds"] == {} and qc["status"] == {} and qc["overall"] is None
    assert res.stderr == ""


def test_it_counts_low_mapping_quality_reads_when_asked(tiny):
    qc, _ = summarise(tiny, "--min-mapq", "0")
    assert qc["coverage"]["min_mapq"] == 0
    assert qc["mean_target_depth"] == 11.2             # + 5 reads x 50 bases on c1:51-100
    # c1 25-75 now has mean (25 x 25 + 15 x 25) / 50 = 20: 3 of 6 targets; c1:51-100 is at 15
    assert qc["pct_targets_ge_20x"] == 50.0 and qc["pct_target_bases_ge_20x"] == 36.0


def test_it_reads_a_gzipped_bed_with_header_lines(tiny):
    bed = tiny / "tiny.bed.gz"
    bed.write_bytes(gzip.compress(("track name=capture\n# exome v1\n" + TINY_BED).encode()))
    qc, _ = summarise(tiny, targets=bed)
    assert (qc["targets"], qc["target_bases"], qc["mean_target_depth"]) == (6, 250, 10.2)


def test_it_marks_each_metric_pass_or_warn(tiny):
    qc, _ = summarise(tiny, "--min-q30-rate", "0.95", "--min-mapped-pct", "95",
                      "--max-duplication-pct", "15", "--min-mean-depth", "10.2",
                      "--min-pct-targets-20x", "40", "--min-pct-bases-20x", "30")
    assert qc["thresholds"] == {
        "q30_rate_after": {"min": 0.95}, "mapped_pct": {"min": 95},
        "duplication_pct": {"max": 15}, "mean_target_depth": {"min": 10.2},
        "pct_targets_ge_20x": {"min": 40}, "pct_target_bases_ge_20x": {"min": 30}}
    assert qc["status"] == {
        "q30_rate_after": "pass",             # 0.95 >= 0.95
        "mapped_pct": "warn",                 # 86.67 < 95
        "duplication_pct": "pass",            # 15.0 <= 15
        "mean_target_depth": "pass",          # 10.2 >= 10.2
        "pct_targets_ge_20x": "warn",         # 33.33 < 40
        "pct_target_bases_ge_20x": "pass"}    # 36.0 >= 30
    assert qc["overall"] == "warn"
    qc, _ = summarise(tiny, "--min-mapped-pct", "85")
    assert qc["status"] == {"mapped_pct": "pass"} and qc["overall"] == "pass"


def test_it_reads_picard_duplication_metrics(tiny):
    metrics = tiny / "picard.metrics.txt"
    metrics.write_text(
        "## htsjdk.samtools.metrics.StringHeader\n# MarkDuplicates INPUT=[x.bam]\n\n"
        "## METRICS CLASS\tpicard.sam.DuplicationMetrics\n"
        "LIBRARY\tUNPAIRED_READS_EXAMINED\tREAD_PAIRS_EXAMINED\tSECONDARY_OR_SUPPLEMENTARY_RDS\t"
        "UNMAPPED_READS\tUNPAIRED_READ_DUPLICATES\tREAD_PAIR_DUPLICATES\t"
        "READ_PAIR_OPTICAL_DUPLICATES\tPERCENT_DUPLICATION\tESTIMATED_LIBRARY_SIZE\n"
        "LIB1\t10\t100\t0\t4\t2\t10\t0\t0.104762\t500\n"
        "LIB2\t0\t95\t0\t0\t0\t30\t0\t0.315789\t100\n"
        "\n## HISTOGRAM\tjava.lang.Double\nBIN\tCoverageMult\n1.0\t1.0\n")
    qc, _ = summarise(tiny, markdup=metrics)
    assert qc["duplication_pct"] == 20.5               # (2 + 2 x 40) / (10 + 2 x 195)


def test_it_warns_about_targets_on_contigs_the_bam_does_not_have(tiny):
    bed = tiny / "extra.bed"
    bed.write_text(TINY_BED + "chrZ\t0\t10\nchrZ\t20\t30\n")
    qc, res = summarise(tiny, targets=bed)
    assert qc["targets"] == 6 and qc["coverage"]["targets_skipped"] == 2
    assert "2 target(s) on chrZ, which is not in the BAM" in res.stderr


def test_it_summarises_the_generated_sample(ok, testdata):
    d = ok("qc_summary")
    qc = json.loads((d / f"{S}.qc.json").read_text())
    fastp = json.loads((d / f"{S}.fastp.json").read_text())["summary"]
    assert qc["reads_before_filtering"] == fastp["before_filtering"]["total_reads"] > 50_000
    assert qc["reads_after_filtering"] == fastp["after_filtering"]["total_reads"]
    assert abs(qc["q30_rate_after"] - fastp["after_filtering"]["q30_rate"]) < 1e-4
    assert qc["mapped_pct"] > 99 and qc["properly_paired_pct"] > 95
    count = lambda *flags: int(run(["samtools", "view", "-c", *flags, d / f"{S}.bam"],
                                   check=True).stdout)
    dups, primary = count("-f", "1024", "-F", "0x900"), count("-F", "0x904")
    assert qc["duplication_pct"] == round(100 * dups / primary, 2)
    assert 3 < qc["duplication_pct"] < 20              # ~8% PCR duplicates were planted
    # Depth measured another way: samtools depth over every target base, streamed
    manifest = json.loads((testdata / "manifest.json").read_text())
    proc = subprocess.Popen(["samtools", "depth", "-a", "-Q", "20", "-b", testdata / "targets.bed",
                             d / f"{S}.bam"], stdout=subprocess.PIPE, text=True)
    bases = total = deep = 0
    for line in proc.stdout:
        depth = int(line.split("\t")[2])
        bases, total, deep = bases + 1, total + depth, deep + (depth >= 20)
    assert proc.wait() == 0
    assert qc["targets"] == manifest["targets"] and qc["target_bases"] == bases == \
        manifest["target_bases"]
    assert qc["mean_target_depth"] == round(total / bases, 2)
    assert qc["pct_target_bases_ge_20x"] == round(100 * deep / bases, 2)
    assert qc["pct_targets_ge_20x"] > 95
    assert qc["overall"] == "pass" and set(qc["status"]) == {
        "q30_rate_after", "mapped_pct", "duplication_pct", "mean_target_depth",
        "pct_targets_ge_20x", "pct_target_bases_ge_20x"}
    print(json.dumps({k: v for k, v in qc.items() if not isinstance(v, dict)}))


def test_it_rejects_missing_and_empty_inputs(tiny):
    err = fails(tiny, **{"fastp-json": tiny / "no.json"})
    assert "fastp JSON not found or not readable: " in err
    (tiny / "empty.bed").write_text("")
    assert "targets BED is empty: " in fails(tiny, targets=tiny / "empty.bed")
    assert "BAM not found" in fails(tiny, bam=tiny / "missing.bam")


def test_it_rejects_qc_files_that_are_not_what_they_claim(tiny):
    bad = tiny / "bad.json"
    bad.write_text("{not json")
    assert "fastp JSON is not valid JSON: " in fails(tiny, **{"fastp-json": bad})
    bad.write_text(json.dumps({"summary": {"before_filtering": {}}}))
    assert "is it a fastp --json report?" in fails(tiny, **{"fastp-json": bad})
    text = tiny / "text.txt"
    text.write_text("hello\nworld\n")
    assert "not samtools flagstat text output" in fails(tiny, flagstat=text)
    assert "not samtools markdup statistics" in fails(tiny, markdup=text)


def test_it_rejects_a_corrupt_or_unindexed_bam(tiny):
    bad = tiny / "bad.bam"
    bad.write_bytes(b"BAM\x01 this is not really a BAM")
    assert "not a valid BAM file: " in fails(tiny, bam=bad)
    (tiny / "tiny.bam.bai").unlink()
    assert "BAM index (.bai) not found beside " in fails(tiny)


def test_it_rejects_a_bed_that_does_not_fit_the_bam(tiny):
    bed = tiny / "bad.bed"
    bed.write_text("c1\t0\t50\nc1\tstart\tend\n")
    assert "targets line 2 is not BED" in fails(tiny, targets=bed)
    bed.write_text("c1\t50\t40\n")
    assert "targets line 1 is not BED" in fails(tiny, targets=bed)
    bed.write_text("1\t0\t50\n2\t0\t50\n")                  # GRCh37-style names vs c1/c2
    err = fails(tiny, targets=bed)
    assert "no target interval lies on a contig of the BAM (check chromosome names" in err
    bed.write_text("c1\t0\t50\nc2\t0\t5000\n")
    assert "targets line 2 ends at 5000, beyond the end of c2 (100 bp" in fails(tiny, targets=bed)


def test_it_rejects_thresholds_out_of_range(tiny):
    assert "--min-q30-rate is a fraction between 0 and 1" in fails(tiny, "--min-q30-rate", "80")
    assert "--min-mapped-pct is a percentage" in fails(tiny, "--min-mapped-pct", "101")
    res = run([BIN / "qc_summary", "--sample", S, *tiny_args(tiny), "--min-mean-depth", "lots"])
    assert res.returncode == 2 and "--min-mean-depth: not a number: 'lots'" in res.stderr


# Gene models for the hand-made BAM (GFF3, 1-based): G1's CDS c1:1-50 and c1:101-150 (depth 25,
# and 20 but 0 on the deleted c1:121-130: 90 of 100 bases >= 20x); G2 with two transcripts, T2a
# on c1:51-100 (depth 10) and T2b on c1:1-30; G3 on c2 (no reads); a non-coding gene (no row).
TINY_GFF = """##gff-version 3
c1\tx\tgene\t1\t150\t.\t+\t.\tID=gene:G1;Name=GENE1
c1\tx\tmRNA\t1\t150\t.\t+\t.\tID=transcript:T1;Parent=gene:G1
c1\tx\tCDS\t1\t50\t.\t+\t0\tID=CDS:P1;Parent=transcript:T1
c1\tx\tCDS\t101\t150\t.\t+\t1\tID=CDS:P1;Parent=transcript:T1
c1\tx\tgene\t1\t100\t.\t-\t.\tID=gene:G2;Name=GENE2
c1\tx\tmRNA\t51\t100\t.\t-\t.\tID=transcript:T2a;Parent=gene:G2
c1\tx\tCDS\t51\t100\t.\t-\t0\tParent=transcript:T2a
c1\tx\tmRNA\t1\t30\t.\t-\t.\tID=transcript:T2b;Parent=gene:G2
c1\tx\tCDS\t1\t30\t.\t-\t0\tParent=transcript:T2b
c2\tx\tgene\t1\t10\t.\t+\t.\tID=gene:G3;Name=GENE3
c2\tx\tmRNA\t1\t10\t.\t+\t.\tID=transcript:T3;Parent=gene:G3
c2\tx\tCDS\t1\t10\t.\t+\t0\tParent=transcript:T3
c1\tx\tncRNA_gene\t160\t190\t.\t+\t.\tID=gene:G4;Name=LNC4
c1\tx\tlnc_RNA\t160\t190\t.\t+\t.\tID=transcript:T4;Parent=gene:G4
c1\tx\texon\t160\t190\t.\t+\t.\tParent=transcript:T4
"""


def gene_rows(d):
    lines = (d / "out" / f"{S}.gene_coverage.tsv").read_text().splitlines()
    assert lines[0] == "gene\ttranscript\tbases\tbases_20x\tpct_20x"
    return [l.split("\t") for l in lines[1:]]


def test_it_counts_the_cds_bases_of_each_gene_at_20x(tiny):
    (tiny / "genes.gff3").write_text(TINY_GFF)
    summarise(tiny, "--annotation", tiny / "genes.gff3")
    assert gene_rows(tiny) == [["GENE1", "T1", "100", "90", "90.0"],
                               ["GENE2", "T2a", "50", "0", "0.0"],       # its first transcript
                               ["GENE3", "T3", "10", "0", "0.0"]]
    (tiny / "canonical.txt").write_text("G2\tT2b\n")
    summarise(tiny, "--annotation", tiny / "genes.gff3", "--canonical", tiny / "canonical.txt")
    assert gene_rows(tiny)[1] == ["GENE2", "T2b", "30", "30", "100.0"]
    # the same MAPQ rule as the rest: MAPQ 0 reads on c1:51-100 count with --min-mapq 0
    summarise(tiny, "--annotation", tiny / "genes.gff3", "--min-mapq", "0")
    assert gene_rows(tiny)[1] == ["GENE2", "T2a", "50", "0", "0.0"]     # 15x: still below 20


def test_it_rejects_a_bad_canonical_list_or_annotation(tiny):
    (tiny / "genes.gff3").write_text(TINY_GFF)
    (tiny / "canonical.txt").write_text("gene\ttranscript\tsource\n")
    assert "canonical transcripts line 1" in fails(
        tiny, "--annotation", tiny / "genes.gff3", "--canonical", tiny / "canonical.txt")
    assert "not a GFF3 file" in fails(tiny, "--annotation", tiny / "tiny.bed")
    assert "--canonical needs --annotation" in fails(tiny, "--canonical", tiny / "genes.gff3")


def test_it_measures_gene_coverage_like_samtools_depth(ok, testdata, tmp_path):
    d = ok("qc_summary")
    lines = (d / f"{S}.gene_coverage.tsv").read_text().splitlines()
    rows = {r[0]: r for r in (l.split("\t") for l in lines[1:])}
    canonical = dict(l.split("\t") for l in
                     (testdata / "canonical_transcripts.txt").read_text().splitlines())
    assert len(rows) == len(canonical) == 36
    gff = [l.split("\t") for l in (testdata / "genes.gff3").read_text().splitlines()
           if not l.startswith("#")]
    checked = 0
    for name in ("SIM1", "SIM2", "SIM20", "SIM36"):
        gene = next(r for r in gff if r[2] == "gene" and f";Name={name};" in r[8])
        gene_id = gene[8].split(";")[0].split(":")[1]
        transcript = canonical[gene_id]
        cds = [r for r in gff if r[2] == "CDS" and f"Parent=transcript:{transcript}" in r[8]]
        bed = tmp_path / f"{name}.bed"
        bed.write_text("".join(f"{r[0]}\t{int(r[3]) - 1}\t{r[4]}\n" for r in cds))
        depths = [int(l.split("\t")[2]) for l in run(
            ["samtools", "depth", "-a", "-Q", "20", "-b", bed, d / f"{S}.bam"],
            check=True).stdout.splitlines()]
        bases, deep = len(depths), sum(x >= 20 for x in depths)
        assert bases == sum(int(r[4]) - int(r[3]) + 1 for r in cds)
        assert rows[name] == [name, transcript, str(bases), str(deep), f"{100 * deep / bases:.1f}"]
        checked += 1
    assert checked == 4
