"""The local runner: the whole chain on generated data, accuracy, trace, failure and --resume."""

import hashlib
import json
import re

import pytest

from nfsupport import (BIN, FIXTURES, SAMPLE, TRACE_HEADER, benchmark, parse_trace, read_table,
                       run, run_local, steps, vcf_records)

pytestmark = pytest.mark.needs_tools
S = SAMPLE
needs_snpeff = pytest.mark.needs_snpeff
NAMES = [f"{s['process']} ({S})" for s in steps()]


def test_it_publishes_the_documented_layout(local_run):
    out, _, _ = local_run
    for rel in ("qc/TEST1.fastp.json", "qc/TEST1.fastp.html", "qc/TEST1.flagstat.txt",
                "qc/TEST1.markdup.txt", "qc/TEST1.qc.json", "bam/TEST1.bam", "bam/TEST1.bam.bai", "vcf/TEST1.vcf.gz", "vcf/TEST1.vcf.gz.tbi",
                "TEST1_Final_.txt", "pipeline_info/trace.txt", "metadata.json"):
        assert (out / rel).is_file() and (out / rel).stat().st_size > 0, rel


def test_it_reaches_the_recall_and_precision_targets(local_run, testdata):
    """PASS records of the final VCF against the truth, by normalised CHROM/POS/REF/ALT.
    LowQual records are not counted as calls: they are what the soft filter is for."""
    out, _, _ = local_run
    m = benchmark(testdata / "truth.vcf", out / "vcf" / f"{S}.vcf.gz")
    print(json.dumps({k: {x: v[x] for x in ("truth", "calls", "tp", "recall", "precision")}
                      for k, v in m.items()}))
    assert m["snv"]["truth"] >= 150 and m["indel"]["truth"] >= 40
    assert m["snv"]["recall"] >= 0.99 and m["snv"]["precision"] >= 0.99, m["snv"]
    assert m["indel"]["recall"] >= 0.95 and m["indel"]["precision"] >= 0.95, m["indel"]


def test_it_does_not_filter_out_true_variants(local_run, testdata):
    out, _, _ = local_run
    truth = {(r["chrom"], r["pos"], r["ref"], r["alt"]) for r in vcf_records(testdata / "truth.vcf")}
    filtered = [r for r in vcf_records(out / "vcf" / f"{S}.vcf.gz")
                if (r["chrom"], r["pos"], r["ref"], r["alt"]) in truth and r["filter"] != "PASS"]
    assert filtered == []


def test_it_writes_a_trace_in_nextflow_format(local_run):
    out, _, _ = local_run
    for name in ("trace-success.txt", "trace-failure.txt", "trace-resume.txt"):
        parse_trace(FIXTURES / name)          # the parser accepts real Nextflow traces
    rows = parse_trace(out / "pipeline_info" / "trace.txt")
    assert (out / "pipeline_info" / "trace.txt").read_text().split("\n")[0].split("\t") == \
        TRACE_HEADER                          # with start and complete, as nextflow.config asks
    assert [r["name"] for r in rows] == NAMES
    assert {r["status"] for r in rows} == {"COMPLETED"}
    assert [r["task_id"] for r in rows] == [str(i) for i in range(1, len(NAMES) + 1)]
    assert all(r["exit"] == "0" and r["peak_rss"] != "-" and r["rchar"] != "-" for r in rows)
    # each task began after it was submitted and ended before the next one was
    for row, after in zip(rows, rows[1:] + [None]):
        assert row["submit"] <= row["start"] <= row["complete"]
        assert after is None or row["complete"] <= after["submit"]


def test_it_records_metadata_for_the_run(local_run, testdata):
    out, _, _ = local_run
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["runner"] == "local"
    assert meta["parameters"]["sample"] == S and meta["parameters"]["min_qual"] == 20
    assert set(meta["inputs"]) == {"r1", "r2", "reference", "targets", "annotation"}
    assert set(meta["outputs"]) >= {"bam", "vcf", "final_table", "fastp_json", "flagstat",
                                    "qc_json"}
    assert meta["parameters"]["qc_min_q30_rate"] == 0.8
    assert meta["parameters"]["qc_max_duplication_pct"] == 20
    timings = meta["timings"]
    assert timings["available"]
    assert [t["name"] for t in timings["steps"]] == NAMES[:-1]   # its own row comes after it
    import hashlib
    published = hashlib.sha256((out / "vcf" / f"{S}.vcf.gz").read_bytes()).hexdigest()
    assert meta["outputs"]["vcf"]["sha256"] == published


def test_it_publishes_the_qc_summary(local_run, testdata):
    out, _, _ = local_run
    qc = json.loads((out / "qc" / f"{S}.qc.json").read_text())
    fastp = json.loads((out / "qc" / f"{S}.fastp.json").read_text())["summary"]
    manifest = json.loads((testdata / "manifest.json").read_text())
    assert qc["schema"] == "wes-portal/qc/1" and qc["sample"] == S
    assert qc["reads_before_filtering"] == fastp["before_filtering"]["total_reads"]
    assert qc["reads_after_filtering"] == fastp["after_filtering"]["total_reads"]
    assert (qc["targets"], qc["target_bases"]) == (manifest["targets"], manifest["target_bases"])
    assert 60 < qc["mean_target_depth"] < 90          # simulated at ~80x, before duplicates
    # the defaults of nextflow.config, and this sample passes them all
    assert qc["thresholds"]["duplication_pct"] == {"max": 20}
    assert qc["thresholds"]["q30_rate_after"] == {"min": 0.8}
    assert set(qc["status"].values()) == {"pass"} and qc["overall"] == "pass"
    meta = json.loads((out / "metadata.json").read_text())
    import hashlib
    assert meta["outputs"]["qc_json"]["sha256"] == hashlib.sha256(
        (out / "qc" / f"{S}.qc.json").read_bytes()).hexdigest()


def test_it_passes_qc_thresholds_to_the_summary(local_run, testdata, tmp_path):
    _, work, _ = local_run
    res = run_local(testdata, tmp_path / "out", work, "--resume", "--qc_min_mean_depth", "500",
                    "--qc-max-duplication-pct", "1.5")
    assert res.returncode == 0, res.stderr
    rows = parse_trace(tmp_path / "out" / "pipeline_info" / "trace.txt")
    assert [r["status"] for r in rows] == ["CACHED"] * 10 + ["COMPLETED"] * 2
    qc = json.loads((tmp_path / "out" / "qc" / f"{S}.qc.json").read_text())
    assert qc["thresholds"]["mean_target_depth"] == {"min": 500}
    assert qc["thresholds"]["duplication_pct"] == {"max": 1.5}
    assert qc["status"]["mean_target_depth"] == qc["status"]["duplication_pct"] == "warn"
    assert qc["status"]["mapped_pct"] == "pass" and qc["overall"] == "warn"
    meta = json.loads((tmp_path / "out" / "metadata.json").read_text())
    assert meta["parameters"]["qc_min_mean_depth"] == 500


def test_it_stops_at_a_failing_step_with_its_exit_code(failed_then_resumed):
    _, failed, trace, _ = failed_then_resumed
    assert failed.returncode == 3
    assert "CALL_VARIANTS (TEST1)" in failed.stderr
    assert "step_hook: simulated failure in CALL_VARIANTS" in failed.stderr   # the stderr tail
    rows = [dict(zip(trace.splitlines()[0].split("\t"), l.split("\t")))
            for l in trace.splitlines()[1:]]
    assert [r["status"] for r in rows] == ["COMPLETED"] * 5 + ["FAILED"]
    assert rows[-1]["name"] == "CALL_VARIANTS (TEST1)" and rows[-1]["exit"] == "3"


def test_it_resumes_after_a_failure_from_cached_steps(failed_then_resumed):
    out, _, _, resumed = failed_then_resumed
    assert resumed.returncode == 0, resumed.stderr
    rows = parse_trace(out / "pipeline_info" / "trace.txt")
    assert [r["name"] for r in rows] == NAMES
    assert [r["status"] for r in rows] == ["CACHED"] * 5 + ["COMPLETED"] * 7
    assert (out / "bam" / f"{S}.bam").is_file() and (out / f"{S}_Final_.txt").is_file()


def test_it_gives_the_same_variant_ids_on_a_second_run(local_run, failed_then_resumed):
    first = read_table(local_run[0] / f"{S}_Final_.txt")[1]
    second = read_table(failed_then_resumed[0] / f"{S}_Final_.txt")[1]
    assert len(first) > 200
    assert [r["variant_id"] for r in first] == [r["variant_id"] for r in second]


def test_it_caches_every_unchanged_step(local_run, testdata, tmp_path):
    _, work, _ = local_run
    res = run_local(testdata, tmp_path / "out", work, "--resume")
    assert res.returncode == 0, res.stderr
    rows = parse_trace(tmp_path / "out" / "pipeline_info" / "trace.txt")
    # metadata records the output folder, which changed: only that step runs again
    assert [r["status"] for r in rows] == ["CACHED"] * 11 + ["COMPLETED"]
    assert (tmp_path / "out" / "metadata.json").is_file()
    assert (tmp_path / "out" / "vcf" / "TEST1.vcf.gz").is_file()


def test_it_reports_a_real_step_failure_with_its_stderr(local_run, testdata, tmp_path):
    _, work, _ = local_run
    data = tmp_path / "data"                  # same files (symlinks) but a broken GFF3
    data.mkdir()
    for f in testdata.iterdir():
        (data / f.name).symlink_to(f)
    gff = data / "genes.gff3"
    lines = (testdata / "genes.gff3").read_text().splitlines()
    gff.unlink()
    broken = [l.split("\t") for l in lines]
    for f in broken:
        if len(f) > 3 and f[2] == "CDS":
            f[3] = "abc"                      # bcftools csq cannot parse this line
    gff.write_text("\n".join("\t".join(f) for f in broken) + "\n")
    res = run_local(data, tmp_path / "out", work, "--resume")
    assert res.returncode != 0
    assert "ANNOTATE (TEST1)" in res.stderr and "Command error:" in res.stderr
    rows = parse_trace(tmp_path / "out" / "pipeline_info" / "trace.txt")
    assert [r["status"] for r in rows] == ["CACHED"] * 8 + ["FAILED"]
    assert rows[-1]["name"] == "ANNOTATE (TEST1)"
    assert rows[-1]["exit"] == str(res.returncode)


def test_it_rejects_bad_arguments(testdata, tmp_path):
    res = run([BIN / "run-local", "--sample", S, "--outdir", tmp_path])
    assert res.returncode == 2 and "required" in res.stderr
    res = run_local(testdata, tmp_path / "o", tmp_path / "w", "--caller", "freebayes")
    assert res.returncode == 2 and "invalid choice" in res.stderr
    res = run_local(testdata, tmp_path / "o", tmp_path / "w", "--qc_min_q30_rate", "80")
    assert res.returncode == 2 and "--qc_min_q30_rate must be between 0 and 1" in res.stderr
    missing = tmp_path / "missing"
    res = run([BIN / "run-local", "--sample", S, "--r1", missing, "--r2", missing,
               "--reference", missing, "--targets", missing, "--annotation", missing,
               "--outdir", tmp_path / "o"])
    assert res.returncode == 2 and "file not found" in res.stderr


# ------------------------------------------------------------------ with the bundle's sources

@needs_snpeff
def test_it_annotates_with_snpeff_gnomad_and_clinvar_when_given(local_run_annotated, testdata):
    out, res = local_run_annotated
    rows = parse_trace(out / "pipeline_info" / "trace.txt")
    # the steps before ANNOTATE are the same tasks as local_run's; the last four take the sources
    assert [r["status"] for r in rows] == ["CACHED"] * 8 + ["COMPLETED"] * 4
    header, table = read_table(out / f"{S}_Final_.txt")
    assert header[-5:] == ["gnomad_af", "gnomad_hom", "clinvar_significance",
                           "clinvar_review_status", "clinvar_id"]
    by_key = {(r["chrom"], int(r["pos"]), r["ref"], r["alt"]): r for r in table}
    _, hgvs = read_table(testdata / "truth_hgvs.tsv")
    compared = 0
    for want in hgvs:
        got = by_key[(want["chrom"], int(want["pos"]), want["ref"], want["alt"])]   # all called
        assert (got["gene"], got["transcript"], got["hgvs_c"], got["hgvs_p"]) == \
            (want["gene"], want["transcript"], want["hgvs_c"], want["hgvs_p"]), (want, got)
        compared += 1
    assert compared == len(hgvs) > 150
    gnomad = {(r["chrom"], r["pos"], r["ref"], r["alt"]): r for r in
              vcf_records(testdata / "gnomad.vcf.gz")}
    for key, row in by_key.items():
        if key in gnomad:
            af = float(re.search(r"AF=([^;]+)", gnomad[key]["info"]).group(1))
            assert float(row["gnomad_af"]) == pytest.approx(af, rel=1e-5)
        else:
            assert row["gnomad_af"] == row["gnomad_hom"] == ""
    assert sum(r["clinvar_id"] != "" for r in table) > 10
    gene_cov = (out / "qc" / f"{S}.gene_coverage.tsv").read_text().splitlines()
    assert gene_cov[0] == "gene\ttranscript\tbases\tbases_20x\tpct_20x" and len(gene_cov) == 37


@needs_snpeff
def test_it_records_the_annotation_sources_in_metadata(local_run_annotated, testdata, snpeff_db):
    out, _ = local_run_annotated
    meta = json.loads((out / "metadata.json").read_text())
    sha = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()
    assert meta["annotation_sources"] == {
        "snpeff": {"name": "snpEff", "version": meta["tools"]["snpeff"],
                   "database": "snpEffectPredictor.bin", "sha256": sha(snpeff_db[0])},
        "gnomad": {"name": "gnomAD", "version": "4.1-sim", "file": "gnomad.vcf.gz",
                   "sha256": sha(testdata / "gnomad.vcf.gz")},
        "clinvar": {"name": "ClinVar", "version": "20240512-sim", "file": "clinvar.vcf.gz",
                    "sha256": sha(testdata / "clinvar.vcf.gz")}}
    assert re.fullmatch(r"5\.\d+\w*", meta["tools"]["snpeff"])
    params = meta["parameters"]
    assert params["snpeff_db"] == str(snpeff_db[0])
    assert params["gnomad_version"] == "4.1-sim" and params["clinvar_version"] == "20240512-sim"
    assert params["canonical"] == str(testdata / "canonical_transcripts.txt")
    assert meta["outputs"]["gene_coverage"]["sha256"] == sha(out / "qc" / f"{S}.gene_coverage.tsv")


def test_it_records_no_annotation_source_without_them(local_run):
    meta = json.loads((local_run[0] / "metadata.json").read_text())
    assert meta["annotation_sources"] == {}
    assert meta["parameters"]["snpeff_db"] is None and meta["parameters"]["gnomad"] is None


def test_it_rejects_a_declared_source_that_is_missing_or_not_indexed(testdata, tmp_path):
    missing = tmp_path / "clinvar.vcf.gz"
    res = run_local(testdata, tmp_path / "o", tmp_path / "w", "--clinvar", missing)
    assert res.returncode == 2 and "--clinvar: file not found or not readable" in res.stderr
    unindexed = tmp_path / "gnomad.vcf.gz"
    unindexed.write_bytes((testdata / "gnomad.vcf.gz").read_bytes())
    res = run_local(testdata, tmp_path / "o", tmp_path / "w", "--gnomad", unindexed)
    assert res.returncode == 2 and "--gnomad: not indexed" in res.stderr
    res = run_local(testdata, tmp_path / "o", tmp_path / "w", "--snpeff_db", tmp_path / "x.bin")
    assert res.returncode == 2 and "--snpeff_db: file not found" in res.stderr
    assert not (tmp_path / "o" / "pipeline_info").exists()       # stopped before any step


def test_it_writes_the_step_a_signal_stopped_as_aborted(testdata, tmp_path):
    """SIGTERM (a cancel) stops the step in flight, which the trace shows ABORTED with no exit
    status, as Nextflow writes the tasks it kills."""
    import os
    import signal
    import subprocess
    import time

    out, work = tmp_path / "out", tmp_path / "work"
    cmd = [str(BIN / "run-local"), "--sample", S, "--r1", testdata / f"{S}_R1.fastq.gz",
           "--r2", testdata / f"{S}_R2.fastq.gz", "--reference", testdata / "ref.fa",
           "--targets", testdata / "targets.bed", "--annotation", testdata / "genes.gff3",
           "--outdir", out, "--work-dir", work]
    runner = subprocess.Popen([str(c) for c in cmd], env={**os.environ, "WES_STEP_DELAY": "30"},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not list(work.glob("*/*/.command.sh")) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    runner.send_signal(signal.SIGTERM)
    _, stderr = runner.communicate(timeout=30)
    assert runner.returncode == 143, stderr
    rows = parse_trace(out / "pipeline_info" / "trace.txt")
    assert [(r["name"], r["status"], r["exit"], r["duration"], r["complete"]) for r in rows] == [
        (f"FASTP_QC ({S})", "ABORTED", "-", "-", "-")]
    assert rows[0]["submit"] <= rows[0]["start"]             # it had started
    assert "\nstep_hook FASTP_QC\n" in next(work.glob("*/*/.command.sh")).read_text()
