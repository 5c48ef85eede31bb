"""The whole pipeline on whichever runner WES_PIPELINE_RUNNER names (run-local by default;
`WES_PIPELINE_RUNNER=nextflow` runs these on the `nextflow` on PATH): what both runners must do
alike. Steps may run in parallel under Nextflow, so rows are looked up by name, not position."""

import json

import pytest

from nfsupport import SAMPLE, parse_trace, steps

pytestmark = [pytest.mark.needs_tools, pytest.mark.pipeline]
S = SAMPLE
BEFORE_CALLING = ["FASTP_QC", "BWA_ALIGN", "SORT_FIXMATE", "FLAGSTAT", "MARK_DUPLICATES"]


def by_process(rows):
    return {r["name"].split(" (")[0]: r for r in rows}


def test_it_runs_every_step_and_publishes_the_documented_layout(pipeline_run, runner):
    out, _ = pipeline_run
    for rel in ("qc/TEST1.fastp.json", "qc/TEST1.flagstat.txt", "qc/TEST1.qc.json",
                "bam/TEST1.bam", "bam/TEST1.bam.bai", "vcf/TEST1.vcf.gz", "vcf/TEST1.vcf.gz.tbi",
                "TEST1_Final_.txt", "pipeline_info/trace.txt", "metadata.json"):
        assert (out / rel).is_file() and (out / rel).stat().st_size > 0, rel
    rows = by_process(parse_trace(out / "pipeline_info" / "trace.txt"))
    assert set(rows) == {s["process"] for s in steps()}
    assert {r["status"] for r in rows.values()} == {"COMPLETED"}
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["runner"] == runner
    qc = json.loads((out / "qc" / f"{S}.qc.json").read_text())
    fastp = json.loads((out / "qc" / f"{S}.fastp.json").read_text())["summary"]
    assert qc["reads_before_filtering"] == fastp["before_filtering"]["total_reads"] > 0


def test_it_stops_at_a_step_failed_through_the_hook_and_resumes(
        pipeline_failed_then_resumed):
    out, failed, trace, resumed = pipeline_failed_then_resumed
    assert failed.returncode != 0
    said = failed.stdout + failed.stderr          # Nextflow: stdout; run-local: stderr
    assert "Process `CALL_VARIANTS (TEST1)` terminated with an error exit status (3)" in said
    assert "step_hook: simulated failure in CALL_VARIANTS (WES_FAIL_STEP=CALL_VARIANTS:3)" in said
    rows = by_process(parse_trace_text(trace))
    assert (rows["CALL_VARIANTS"]["status"], rows["CALL_VARIANTS"]["exit"]) == ("FAILED", "3")
    assert all(rows[p]["status"] == "COMPLETED" for p in BEFORE_CALLING)
    assert "NORMALISE" not in rows and "FINAL_TABLE" not in rows

    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    rows = by_process(parse_trace(out / "pipeline_info" / "trace.txt"))
    assert all(rows[p]["status"] == "CACHED" for p in BEFORE_CALLING)
    assert rows["CALL_VARIANTS"]["status"] == rows["FINAL_TABLE"]["status"] == "COMPLETED"
    assert (out / f"{S}_Final_.txt").is_file()


def parse_trace_text(text):
    lines = text.splitlines()
    return [dict(zip(lines[0].split("\t"), line.split("\t"))) for line in lines[1:]]
