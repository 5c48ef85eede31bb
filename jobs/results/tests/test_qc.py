"""jobs/results/qc.py: reading the pipeline's qc.json and the figures pages and the PDF show."""

import json
import subprocess
from pathlib import Path

import pytest

from jobs.results.qc import (QC_FIGURES, QcSummaryError, qc_fail_limits, qc_rows, qc_verdict,
                             read_qc_summary)

ROOT = Path(__file__).resolve().parents[3]
QC_SUMMARY = ROOT / "nextflow" / "bin" / "qc_summary"


def write_pipeline_summary(d: Path) -> Path:
    """Run the pipeline's own step on a one-target BAM: 30 reads of 50 bases over c1:1-50."""
    header = "@HD\tVN:1.6\tSO:coordinate\n@SQ\tSN:c1\tLN:100\n@RG\tID:r\tSM:S1\n"
    reads = "".join(f"r{i}\t{99 if i % 2 == 0 else 147}\tc1\t1\t60\t50M\t=\t1\t0\t{'A' * 50}\t"
                    f"{'I' * 50}\tRG:Z:r\n" for i in range(30))
    (d / "s.sam").write_text(header + reads)
    subprocess.run(["samtools", "sort", "-o", d / "S1.bam", d / "s.sam"], check=True)
    subprocess.run(["samtools", "index", d / "S1.bam"], check=True)
    flagstat = subprocess.run(["samtools", "flagstat", d / "S1.bam"], check=True,
                              capture_output=True, text=True).stdout
    (d / "S1.flagstat.txt").write_text(flagstat)
    (d / "S1.markdup.txt").write_text("EXAMINED: 30\nDUPLICATE TOTAL: 3\n")
    (d / "S1.fastp.json").write_text(json.dumps({"summary": {
        "before_filtering": {"total_reads": 40, "total_bases": 4000, "q30_bases": 3600},
        "after_filtering": {"total_reads": 30, "total_bases": 1500, "q30_bases": 1470}}}))
    (d / "targets.bed").write_text("c1\t0\t50\nc1\t50\t100\n")
    subprocess.run([QC_SUMMARY, "--sample", "S1", "--fastp-json", d / "S1.fastp.json",
                    "--flagstat", d / "S1.flagstat.txt", "--markdup", d / "S1.markdup.txt",
                    "--bam", d / "S1.bam", "--targets", d / "targets.bed", "--outdir", d,
                    "--min-mean-depth", "20", "--max-duplication-pct", "20"], check=True)
    return d / "S1.qc.json"


@pytest.fixture
def summary(tmp_path):
    return json.loads(write_pipeline_summary(tmp_path).read_text())


def write(tmp_path, data):
    path = tmp_path / "qc.json"
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


def test_it_reads_the_summary_the_pipeline_writes(tmp_path):
    qc = read_qc_summary(write_pipeline_summary(tmp_path))
    assert qc["schema"] == "wes-portal/qc/1" and qc["sample"] == "S1"
    assert {f.key for f in QC_FIGURES} <= set(qc)
    assert qc["reads_before_filtering"] == 40 and qc["q30_rate_after"] == 0.98
    assert qc["mean_target_depth"] == 15.0                  # 30 x 50 bases over 100
    assert qc["pct_targets_ge_20x"] == 50.0 and qc["pct_target_bases_ge_20x"] == 50.0
    assert qc["status"] == {"duplication_pct": "pass", "mean_target_depth": "warn"}
    assert qc["overall"] == "warn"


def test_it_gives_a_row_per_figure_in_display_order(summary):
    rows = qc_rows(summary)
    assert [r["key"] for r in rows] == [
        "reads_before_filtering", "reads_after_filtering", "q30_rate_before", "q30_rate_after",
        "mapped_pct", "properly_paired_pct", "duplication_pct", "mean_target_depth",
        "pct_targets_ge_20x", "pct_target_bases_ge_20x"]
    by_key = {r["key"]: r for r in rows}
    assert by_key["reads_before_filtering"]["display"] == "40 reads"
    assert by_key["q30_rate_before"]["display"] == "90.0%"
    assert by_key["duplication_pct"] == {
        "key": "duplication_pct", "label": "Duplicate reads", "value": 10.0,
        "display": "10.00%", "status": "pass", "threshold": "≤ 20.00%", "fail_limit": "",
        "bar": 10.0}
    assert by_key["mapped_pct"]["bar"] == round(by_key["mapped_pct"]["value"], 1)
    assert by_key["mean_target_depth"]["bar"] is None     # not a share: no bar
    assert by_key["mean_target_depth"]["display"] == "15.0×"
    assert by_key["mean_target_depth"]["threshold"] == "≥ 20.0×"
    assert by_key["mean_target_depth"]["status"] == "warn"
    assert by_key["mapped_pct"]["status"] is None and by_key["mapped_pct"]["threshold"] == ""


def test_it_formats_large_counts_and_unknown_values():
    reads, q30 = QC_FIGURES[0], QC_FIGURES[3]
    assert reads.display(61_234_567) == "61,234,567 reads"
    assert q30.display(0.86222) == "86.2%"
    assert q30.display(None) == "–"
    assert [f.label for f in QC_FIGURES][-2:] == ["Targets with mean depth ≥ 20×",
                                                  "Target bases ≥ 20×"]


def test_it_accepts_a_ratio_with_nothing_to_divide_by(tmp_path, summary):
    summary["properly_paired_pct"] = None
    assert read_qc_summary(write(tmp_path, summary))["properly_paired_pct"] is None
    assert qc_rows(summary)[5]["display"] == "–"


def test_it_names_a_missing_or_unreadable_file(tmp_path):
    with pytest.raises(QcSummaryError, match=r"^QC summary not found: .*/nope\.json$"):
        read_qc_summary(tmp_path / "nope.json")
    with pytest.raises(QcSummaryError, match=r"^cannot read the QC summary .*: Is a directory"):
        read_qc_summary(tmp_path)


def test_it_rejects_a_file_that_is_not_json(tmp_path):
    with pytest.raises(QcSummaryError, match=r"qc\.json is not valid JSON: Expecting"):
        read_qc_summary(write(tmp_path, '{"schema": "wes-portal/qc/1",'))
    with pytest.raises(QcSummaryError, match="expected a JSON object, got list"):
        read_qc_summary(write(tmp_path, "[1, 2]"))
    (tmp_path / "big.json").write_bytes(b" " * (2 << 20))
    with pytest.raises(QcSummaryError, match="larger than 1048576 bytes: not a summary"):
        read_qc_summary(tmp_path / "big.json")


def test_it_rejects_another_schema(tmp_path, summary):
    summary["schema"] = "wes-portal/metadata/1"           # metadata.json picked up by mistake
    with pytest.raises(QcSummaryError,
                       match=r"schema is 'wes-portal/metadata/1', expected 'wes-portal/qc/1'"):
        read_qc_summary(write(tmp_path, summary))


def test_it_lists_every_problem_of_a_bad_summary(tmp_path, summary):
    del summary["mapped_pct"]
    summary["duplication_pct"] = 120
    summary["reads_before_filtering"] = "40"
    summary["mean_target_depth"] = -1
    summary["targets"] = True
    summary["status"]["mean_target_depth"] = "fail"
    summary["thresholds"]["mapped_pct"] = {"at_least": 95}
    summary["overall"] = "ok"
    with pytest.raises(QcSummaryError) as err:
        read_qc_summary(write(tmp_path, summary))
    message = str(err.value)
    assert message.startswith(f"QC summary {tmp_path / 'qc.json'} is not a valid "
                              "wes-portal/qc/1 summary: ")
    for problem in ("reads_before_filtering: '40' is not a whole number",
                    "mapped_pct: missing",
                    "duplication_pct: 120 is not between 0 and 100",
                    "mean_target_depth: -1 is not at least 0",
                    "targets: True is not a count",
                    "status.mean_target_depth: 'fail' is not 'pass' or 'warn'",
                    "thresholds.mapped_pct: {'at_least': 95} is not",
                    "overall: 'ok' is not 'pass', 'warn' or null"):
        assert problem in message, problem


def test_it_rejects_more_reads_after_filtering_than_before(tmp_path, summary):
    summary["reads_after_filtering"] = 41
    with pytest.raises(QcSummaryError, match=r"reads_after_filtering \(41\) exceeds "
                                             r"reads_before_filtering \(40\)"):
        read_qc_summary(write(tmp_path, summary))


def config_param(name: str) -> float:
    config = (ROOT / "nextflow" / "nextflow.config").read_text()
    return float(next(line.split("=")[1].split("//")[0] for line in config.splitlines()
                      if line.strip().startswith(name + " ")))


def test_the_failure_limits_are_the_pipelines_params():
    limits = qc_fail_limits(None)
    assert limits == {
        "q30_rate_after": {"min": config_param("qc_fail_min_q30_rate")},
        "mapped_pct": {"min": config_param("qc_fail_min_mapped_pct")},
        "duplication_pct": {"max": config_param("qc_fail_max_duplication_pct")},
        "mean_target_depth": {"min": config_param("qc_fail_min_mean_depth")},
        "pct_target_bases_ge_20x": {"min": config_param("qc_fail_min_pct_bases_20x")}}
    # A run given its own limits (recorded in its metadata.json parameters) is judged by them.
    assert qc_fail_limits({"qc_fail_min_mapped_pct": 50})["mapped_pct"] == {"min": 50}


def good(summary) -> dict:
    """The pipeline's summary of a run that meets every threshold."""
    figures = {"q30_rate_after": 0.95, "mapped_pct": 99.5, "duplication_pct": 8.0,
               "mean_target_depth": 120.0, "pct_targets_ge_20x": 98.0,
               "pct_target_bases_ge_20x": 97.0}
    return {**summary, **figures, "status": dict.fromkeys(summary["status"], "pass"),
            "overall": "pass", "fail_limits": qc_fail_limits(None)}


def test_a_run_with_no_read_mapped_fails_its_qc(summary):
    qc = {**good(summary), "mapped_pct": 0.0,
          "status": {**good(summary)["status"], "mapped_pct": "warn"}}
    assert qc_verdict(qc) == "fail"
    mapped = {r["key"]: r for r in qc_rows(qc)}["mapped_pct"]
    assert (mapped["status"], mapped["fail_limit"]) == ("fail", "< 80.00%")


def test_the_verdict_is_pass_warn_or_fail_by_the_limits(summary):
    assert qc_verdict(good(summary)) == "pass"
    warned = {**good(summary), "duplication_pct": 30.0,
              "status": {**good(summary)["status"], "duplication_pct": "warn"}}
    assert qc_verdict(warned) == "warn", "past the threshold, short of the failure limit"
    assert qc_verdict({**warned, "duplication_pct": 60.0}) == "fail"
    assert qc_verdict({**good(summary), "reads_after_filtering": 0}) == "fail"
    assert qc_verdict({**good(summary), "mapped_pct": None}) == "fail", "no reads to map"
    lenient = {**warned, "mapped_pct": 60.0,
               "fail_limits": qc_fail_limits({"qc_fail_min_mapped_pct": 50})}
    assert qc_verdict(lenient) == "warn"
    assert qc_verdict({}) == "", "no summary, no verdict"
