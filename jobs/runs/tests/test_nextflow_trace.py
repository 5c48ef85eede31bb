"""jobs/runs/trace.py on real Nextflow 24.10.9 trace files (no database); the nf-weblog events of
the same run give the exact figures the trace rounds."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from jobs.runs.trace import (
    StepState, TaskRecord, TraceTail, parse_duration, parse_size, parse_trace,
    settle, summarise,
)

FIXTURES = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "nextflow-24.10.9"
STEPS = ["INDEX", "FASTP", "ALIGN", "CALL"]
MB, GB = 1024**2, 1024**3
HEADER = ("task_id\thash\tnative_id\tname\tstatus\texit\tsubmit\tduration\trealtime\t%cpu\t"
          "peak_rss\tpeak_vmem\trchar\twchar\n")


def trace(run: str) -> list[TaskRecord]:
    return parse_trace((FIXTURES / f"trace-{run}.txt").read_text())


def row(task_id, name, status, exit_code="0", submit="2026-11-23 23:21:31.316", duration="1s"):
    return (f"{task_id}\taa/bbbbbb\t{100 + task_id}\t{name}\t{status}\t{exit_code}\t{submit}\t"
            f"{duration}\t1s\t50.0%\t1 MB\t2 MB\t3 KB\t0\n")


def test_it_parses_every_field_of_a_success_row():
    records = trace("success")
    assert [r.task_id for r in records] == [1, 2, 3, 4]
    assert records[1] == TaskRecord(
        task_id=2, hash="f3/db787b", native_id="13377", name="FASTP (SAMPLE1)", process="FASTP",
        tag="SAMPLE1", status="COMPLETED", exit_code=0,
        submitted_at=datetime(2026, 11, 23, 23, 21, 11, 796000), duration_s=3.5, realtime_s=3.4,
        cpu_percent=96.8, peak_rss_bytes=GB, peak_vmem_bytes=round(1.3 * GB),
        rchar_bytes=round(2.5 * MB), wchar_bytes=round(1.2 * MB))


def test_it_reads_an_untagged_process_with_an_empty_tag():
    index = trace("success")[0]
    assert (index.name, index.process, index.tag) == ("INDEX", "INDEX", "")
    assert (index.duration_s, index.realtime_s, index.cpu_percent) == (0.196, 0.104, 32.0)
    assert index.peak_rss_bytes == 7 * MB
    assert index.rchar_bytes == round(809.8 * 1024)


def test_it_reads_1024_based_sizes_below_a_whole_unit():
    align = trace("success")[2]
    assert align.peak_vmem_bytes == round(1019.7 * MB) < GB
    assert align.peak_rss_bytes == round(22.6 * MB)


def test_it_gives_the_failed_row_exit_3_and_no_metrics():
    records = trace("failure")
    assert [r.task_id for r in records] == [2, 1, 3, 4]         # completion order, as written
    call = records[-1]
    assert (call.process, call.status, call.exit_code) == ("CALL", "FAILED", 3)
    assert (call.duration_s, call.realtime_s) == (0.126, 0.105)
    assert (call.cpu_percent, call.peak_rss_bytes, call.peak_vmem_bytes,
            call.rchar_bytes, call.wchar_bytes) == (None, None, None, None, None)


def test_it_reads_cached_rows_of_a_resumed_run():
    records = trace("resume")
    assert [(r.process, r.status) for r in records] == [
        ("INDEX", "CACHED"), ("FASTP", "CACHED"), ("ALIGN", "CACHED"), ("CALL", "COMPLETED")]
    # Cached rows repeat the earlier run's row (hash, submit time, metrics) with a new status.
    failed = {r.process: r for r in trace("failure")}
    fastp = records[1]
    assert fastp == TaskRecord(**{**failed["FASTP"].__dict__, "status": "CACHED"})
    assert fastp.peak_vmem_bytes == GB
    assert records[3].hash == "a5/208b84" and records[3].hash != failed["CALL"].hash


def test_it_returns_naive_local_submit_times():
    # The fixture machine ran in UTC, so the naive local time equals the weblog's epoch-ms submit.
    submitted = {r.task_id: r.submitted_at for r in trace("success")}
    for line in (FIXTURES / "weblog-success.jsonl").read_text().splitlines():
        obj = json.loads(line)
        if obj["event"] == "process_completed":
            epoch = datetime.fromtimestamp(obj["trace"]["submit"] / 1000, timezone.utc)
            assert submitted[obj["trace"]["task_id"]] == epoch.replace(tzinfo=None)
    assert all(t.tzinfo is None for t in submitted.values())


def test_it_matches_weblog_exact_bytes_within_the_rounding_of_1024_based_units():
    records = {r.task_id: r for r in trace("success")}
    for line in (FIXTURES / "weblog-success.jsonl").read_text().splitlines():
        obj = json.loads(line)
        if obj["event"] == "process_completed":
            exact = obj["trace"]["peak_rss"]
            shown = records[obj["trace"]["task_id"]].peak_rss_bytes
            unit = 1024 ** ((exact.bit_length() - 1) // 10)     # the unit Nextflow shows it in
            assert abs(shown - exact) <= 0.05 * unit
    assert records[2].peak_rss_bytes == GB != 1123880960      # "1 GB" was really 1.05 GiB


@pytest.mark.parametrize("text", ["", HEADER, HEADER.rstrip("\n"), HEADER + "1\tab/cd",
                                  HEADER + "\n\n"])
def test_it_gives_no_records_for_an_empty_or_header_only_file(text):
    assert parse_trace(text) == []


def test_it_skips_an_unterminated_last_line():
    full = (FIXTURES / "trace-success.txt").read_text()
    cut = full[:-20]                                     # the CALL row half written
    assert [r.process for r in parse_trace(cut)] == ["INDEX", "FASTP", "ALIGN"]
    assert parse_trace(full.rstrip("\n"))[-1].process == "ALIGN"   # no newline yet: not complete


def test_it_finds_columns_by_header_name():
    text = "name\tstatus\ttask_id\n" "FASTP (S1)\tRUNNING\t7\n"
    [record] = parse_trace(text)
    assert (record.task_id, record.process, record.tag, record.status) == (
        7, "FASTP", "S1", "RUNNING")
    assert (record.hash, record.exit_code, record.submitted_at, record.peak_rss_bytes) == (
        "-", None, None, None)


def test_it_rejects_a_file_that_is_not_a_trace():
    with pytest.raises(ValueError, match="line 1: not a Nextflow trace header"):
        parse_trace("hello\tworld\n1\t2\n")


MALFORMED = (HEADER + row(1, "INDEX", "COMPLETED")
             + "garbage that is not a row\n"                              # line 3
             + row(2, "FASTP (S1)", "COMPLETED").replace("\t1 MB", "")   # line 4: a missing column
             + row(3, "ALIGN (S1)", "COMPLETED", duration="soon")        # line 5: bad value
             + row(4, "CALL (S1)", "COMPLETED"))


def test_it_skips_malformed_rows_by_default():
    assert [r.task_id for r in parse_trace(MALFORMED)] == [1, 4]


@pytest.mark.parametrize("text, message", [
    (MALFORMED, "line 3: expected 14 tab-separated fields, got 1"),
    (HEADER + row(2, "FASTP (S1)", "COMPLETED").replace("\t1 MB", ""), "line 2: expected 14"),
    (HEADER + row(3, "ALIGN (S1)", "COMPLETED", duration="soon"),
     "line 2: not a Nextflow duration"),
    (HEADER + row(3, "ALIGN (S1)", "COMPLETED", exit_code="x"), "line 2: invalid literal"),
])
def test_it_raises_on_the_first_malformed_row_in_strict_mode(text, message):
    with pytest.raises(ValueError, match=message):
        parse_trace(text, strict=True)


@pytest.mark.parametrize("text, seconds", [
    ("424ms", 0.424), ("0ms", 0.0), ("999ms", 0.999), ("3.5s", 3.5), ("3s", 3.0), ("60s", 60.0),
    ("1m", 60.0), ("1m 2s", 62.0), ("1h 3m 4s", 3784.0), ("2d 1h", 176400.0), ("1d", 86400.0),
    ("2h 5s", 7205.0), ("1m2s", 62.0), (" 3.1s ", 3.1), ("1.5 min", 90.0), ("-", None), ("", None),
    (" - ", None),
])
def test_it_parses_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["soon", "3", "3x", "s", "1m 2", "-1s", "1,5s", "3.s"])
def test_it_rejects_bad_durations(text):
    with pytest.raises(ValueError, match="not a Nextflow duration"):
        parse_duration(text)


@pytest.mark.parametrize("text, size", [
    ("0", 0), ("10 B", 10), ("123", 123), ("1 KB", 1024), ("809.8 KB", 829235),
    ("22.6 MB", 23697818), ("1019.7 MB", 1069232947), ("1 GB", GB), ("1.1 GB", 1181116006),
    ("2 TB", 2 * 1024**4), ("1.5G", round(1.5 * GB)), ("4 mb", 4 * MB), ("-", None), ("", None),
])
def test_it_parses_sizes(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["big", "1 XB", "-1 MB", "1.2.3 MB", "MB", "1 MBs"])
def test_it_rejects_bad_sizes(text):
    with pytest.raises(ValueError, match="not a Nextflow size"):
        parse_size(text)


def test_it_summarises_a_successful_run():
    assert summarise(trace("success"), STEPS) == [
        StepState("INDEX", "completed", 0.196, 0), StepState("FASTP", "completed", 3.5, 0),
        StepState("ALIGN", "completed", 0.424, 0), StepState("CALL", "completed", 0.271, 0)]
    assert [s.process for s in summarise(trace("success"))] == STEPS     # task_id 1..4


def test_it_summarises_a_failed_run():
    assert summarise(trace("failure"), STEPS + ["REPORT"]) == [
        StepState("INDEX", "completed", 0.245, 0), StepState("FASTP", "completed", 3.2, 0),
        StepState("ALIGN", "completed", 0.421, 0), StepState("CALL", "failed", 0.126, 3),
        StepState("REPORT", "pending")]
    # Without expected steps: first appearance by task_id (FASTP is task 1 in this run).
    assert [(s.process, s.status) for s in summarise(trace("failure"))] == [
        ("FASTP", "completed"), ("INDEX", "completed"), ("ALIGN", "completed"), ("CALL", "failed")]


def test_it_summarises_a_resumed_run():
    assert [(s.process, s.status) for s in summarise(trace("resume"), STEPS)] == [
        ("INDEX", "cached"), ("FASTP", "cached"), ("ALIGN", "cached"), ("CALL", "completed")]
    assert [s.process for s in summarise(trace("resume"))] == ["FASTP", "INDEX", "ALIGN", "CALL"]


def test_it_shows_pending_steps_of_a_run_in_progress():
    partial = parse_trace((FIXTURES / "trace-success.txt").read_text()[:-20])
    assert [(s.process, s.status) for s in summarise(partial, STEPS)] == [
        ("INDEX", "completed"), ("FASTP", "completed"), ("ALIGN", "completed"), ("CALL", "pending")]
    assert summarise([], STEPS) == [StepState(p, "pending") for p in STEPS]
    assert summarise([]) == []


def test_it_lets_the_latest_attempt_of_a_process_win():
    records = parse_trace(HEADER
                          + row(5, "CALL (S1)", "COMPLETED", submit="2026-11-23 23:22:00.000")
                          + row(4, "CALL (S1)", "FAILED", "3", submit="2026-11-23 23:21:00.000")
                          + row(6, "ALIGN (S1)", "RUNNING", "-")
                          + row(7, "EXTRA", "ABORTED", "-"))
    assert summarise(records, ["ALIGN", "CALL"]) == [
        StepState("ALIGN", "running", 1.0, None), StepState("CALL", "completed", 1.0, 0),
        StepState("EXTRA", "stopped", 1.0, None)]        # unexpected processes are appended


def test_a_finished_run_has_no_step_running():
    """A row still RUNNING when the runner has exited was a task stopped with the run."""
    records = parse_trace(HEADER + row(1, "FASTP (S1)", "COMPLETED")
                          + row(2, "ALIGN (S1)", "RUNNING", "2147483647"))
    assert settle(summarise(records, STEPS)) == [
        StepState("INDEX", "pending"), StepState("FASTP", "completed", 1.0, 0),
        StepState("ALIGN", "stopped", 1.0, None), StepState("CALL", "pending")]


def test_it_tails_a_file_written_in_pieces(tmp_path):
    path = tmp_path / "trace.txt"
    tail = TraceTail(path)
    assert tail.poll() == []                                      # not created yet
    lines = (FIXTURES / "trace-failure.txt").read_text().splitlines(keepends=True)
    with path.open("w") as fh:
        fh.write(lines[0][:30]); fh.flush()                       # half a header
        assert tail.poll() == []
        fh.write(lines[0][30:] + lines[1][:40]); fh.flush()       # header and half a row
        assert tail.poll() == []
        fh.write(lines[1][40:] + lines[2]); fh.flush()
        assert [r.task_id for r in tail.poll()] == [2, 1]
        assert tail.poll() == []
        fh.write("garbage\n" + lines[3] + lines[4]); fh.flush()
        new = tail.poll()
    assert [(r.process, r.status) for r in new] == [("ALIGN", "COMPLETED"), ("CALL", "FAILED")]
    assert new[1].exit_code == 3
    assert tail.malformed == 1


def test_it_tails_non_ascii_bytes_split_between_polls(tmp_path):
    path = tmp_path / "trace.txt"
    tail = TraceTail(path)
    data = (HEADER + row(1, "FASTP (Müller)", "COMPLETED")).encode()
    cut = data.index("ü".encode()) + 1
    path.write_bytes(data[:cut])
    assert tail.poll() == []
    path.write_bytes(data)
    assert [r.tag for r in tail.poll()] == ["Müller"]


def test_it_starts_over_when_the_trace_file_is_replaced(tmp_path):
    path = tmp_path / "trace.txt"
    tail = TraceTail(path)
    path.write_text((FIXTURES / "trace-failure.txt").read_text())
    assert len(tail.poll()) == 4
    replacement = tmp_path / "new.txt"
    replacement.write_text(HEADER + row(9, "INDEX", "COMPLETED"))
    replacement.replace(path)                                     # trace.overwrite on a new attempt
    assert [r.task_id for r in tail.poll()] == [9]
    path.write_text(HEADER)                                       # truncated in place
    assert tail.poll() == []
    with path.open("a") as fh:
        fh.write(row(10, "FASTP (S1)", "CACHED"))
    assert [r.task_id for r in tail.poll()] == [10]


def test_it_raises_when_tailing_something_that_is_not_a_trace(tmp_path):
    path = tmp_path / "trace.txt"
    path.write_text("<html>\n")
    with pytest.raises(ValueError, match="not a Nextflow trace header"):
        TraceTail(path).poll()


TIMED_HEADER = ("task_id\thash\tnative_id\tname\tstatus\texit\tsubmit\tstart\tcomplete\t"
                "duration\trealtime\n")


def timed(task_id, name, status, exit_code, submit, start, complete):
    return f"{task_id}\taa/bbbbbb\t{100 + task_id}\t{name}\t{status}\t{exit_code}\t" \
           f"{submit}\t{start}\t{complete}\t1s\t1s\n"


def test_it_reads_each_tasks_start_and_complete_times():
    """nextflow.config adds `start` and `complete` to Nextflow's default fields; a task that has
    not started or ended has "-" there."""
    [done, aborted] = parse_trace(
        TIMED_HEADER
        + timed(1, "FASTP (S1)", "COMPLETED", "0", "2026-12-05 06:20:01.250",
                "2026-12-05 06:20:01.500", "2026-12-05 06:20:09.125")
        + timed(2, "ALIGN (S1)", "ABORTED", "-", "2026-12-05 06:20:09.200",
                "2026-12-05 06:20:09.300", "-"))
    assert (done.submitted_at, done.started_at, done.completed_at) == (
        datetime(2026, 12, 5, 6, 20, 1, 250000), datetime(2026, 12, 5, 6, 20, 1, 500000),
        datetime(2026, 12, 5, 6, 20, 9, 125000))
    assert (aborted.started_at, aborted.completed_at) == (datetime(2026, 12, 5, 6, 20, 9, 300000),
                                                          None)
    assert trace("success")[0].started_at is None      # a default-fields trace has no such column


def test_a_step_runs_from_its_first_attempts_start_to_its_last_attempts_end():
    records = parse_trace(
        TIMED_HEADER
        + timed(1, "FASTP (S1)", "COMPLETED", "0", "2026-12-05 06:20:01.000",
                "2026-12-05 06:20:01.100", "2026-12-05 06:20:05.000")
        + timed(2, "ALIGN (S1)", "FAILED", "137", "2026-12-05 06:20:05.100",
                "2026-12-05 06:20:05.200", "2026-12-05 06:20:30.000")
        + timed(3, "ALIGN (S1)", "COMPLETED", "0", "2026-12-05 06:20:30.100",
                "2026-12-05 06:20:30.200", "2026-12-05 06:21:10.000")
        + timed(4, "CALL (S1)", "ABORTED", "-", "2026-12-05 06:21:10.100", "-", "-"))
    steps = {s.process: s for s in summarise(records, ["FASTP", "ALIGN", "CALL", "REPORT"])}
    assert (steps["FASTP"].started_at, steps["FASTP"].finished_at) == (
        datetime(2026, 12, 5, 6, 20, 1, 100000), datetime(2026, 12, 5, 6, 20, 5))
    assert (steps["ALIGN"].status, steps["ALIGN"].started_at, steps["ALIGN"].finished_at) == (
        "completed", datetime(2026, 12, 5, 6, 20, 5, 200000), datetime(2026, 12, 5, 6, 21, 10))
    assert (steps["CALL"].started_at, steps["CALL"].finished_at) == (None, None)
    assert (steps["REPORT"].started_at, steps["REPORT"].finished_at) == (None, None)


def test_a_task_the_portals_stop_killed_reads_stopped_not_failed():
    """Signalled with the run (137, 143), a task can end FAILED before Nextflow's abort: once the
    portal has stopped the run, that is a stopped step. A real failure stays a failure."""
    records = parse_trace(HEADER + row(1, "FASTP (S1)", "FAILED", "143")
                          + row(2, "ALIGN (S1)", "FAILED", "137")
                          + row(3, "CALL (S1)", "FAILED", "3"))
    assert [(s.status, s.exit_code) for s in settle(summarise(records), stopped=True)] == [
        ("stopped", 143), ("stopped", 137), ("failed", 3)]
    assert [s.status for s in settle(summarise(records))] == ["failed"] * 3
