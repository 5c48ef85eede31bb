"""What the portal keeps of a run that ends badly, from runner output in the exact forms Nextflow
24.10 writes (tests/fixtures/nextflow-24.10.9/ captured, tests/fixtures/nextflow-derived/ written
from Nextflow's source) and run-local writes: the failing step and its reason, and a progress in
which no step is left running. The runner here is a stand-in that replays those files."""

import json
import sys
from pathlib import Path

import pytest
from django.utils import timezone

from jobs.models import Job, Sample
from jobs.models.runs import StepStatus
from jobs.runs.runner import PipelineRun, pipeline_steps
from jobs.runs.failure import failure_from_report
from jobs.runs.trace import parse_trace, summarise

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[3]
CAPTURED = ROOT / "tests" / "fixtures" / "nextflow-24.10.9"
DERIVED = ROOT / "tests" / "fixtures" / "nextflow-derived"

REPLAY = """
import shutil, sys
from pathlib import Path
trace, stdout, log, stderr, code = sys.argv[1:6]
outdir = Path(sys.argv[sys.argv.index("--outdir") + 1])
(outdir / "pipeline_info").mkdir(parents=True, exist_ok=True)
if trace:
    shutil.copyfile(trace, outdir / "pipeline_info" / "trace.txt")
if log:
    shutil.copyfile(log, ".nextflow.log")
sys.stdout.write(Path(stdout).read_text() if stdout else "")
sys.stderr.write(Path(stderr).read_text() if stderr else "")
sys.exit(int(code))
"""


def running_job(lab, clinician, **fields) -> Job:
    """A job of a new sample, running its first attempt."""
    sample = Sample.objects.create(
        lab=lab, name="TEST1", external_id="P-1", sex="female", clinical_indication="test",
        consent_confirmed_at=timezone.now(), created_by=clinician.user)
    return Job.objects.create(lab=lab, sample=sample, submitted_by=clinician.user, attempts=1,
                              status="running", **fields)


@pytest.fixture
def run_replaying(lab_a, clinician, settings, tmp_path, monkeypatch):
    """`run_replaying(runner, trace=..., stdout=..., log=..., stderr=..., code=...)`: the outcome
    and the job after a run whose runner wrote those files and exited with `code`."""
    settings.PIPELINE_WORK_DIR = tmp_path / "work"

    def replay(runner, *, trace=None, stdout=None, log=None, stderr=None, code=1):
        job = running_job(lab_a, clinician, runner=runner)
        run = PipelineRun(job, "test-owner", publish=lambda job, out_dir: None)
        run.work_dir.mkdir(parents=True)
        files = [str(f) if f else "" for f in (trace, stdout, log, stderr)]
        monkeypatch.setattr(run, "command", lambda reads, reference: [
            sys.executable, "-c", REPLAY, *files, str(code), "--outdir", str(run.out_dir)])
        outcome = run.run_pipeline({}, None)
        return outcome, Job.objects.get(pk=job.pk)

    return replay


def statuses(job):
    return {step["process"]: step["status"] for step in job.progress}


def test_a_failed_nextflow_step_keeps_its_reason_from_stdout(run_replaying):
    outcome, job = run_replaying("nextflow", trace=DERIVED / "trace-failure-aborted.txt",
                                 stdout=DERIVED / "failure-stdout.txt")
    assert (outcome.step, outcome.exit_code) == ("CALL_VARIANTS", 3)
    assert outcome.error.splitlines() == [
        "Process `CALL_VARIANTS (TEST1)` terminated with an error exit status (3)",
        "[mpileup] 1 samples in 1 input files",
        "[mpileup] maximum number of reads per input file set to -d 250",
        "call_variants: error: bcftools call failed on chr1:10001-10480"]
    # the sibling Nextflow aborted is stopped, not failed; the steps after stay pending
    steps = statuses(job)
    assert steps["CALL_VARIANTS"] == "failed" and steps["QC_SUMMARY"] == "stopped"
    assert steps["NORMALISE"] == steps["WRITE_METADATA"] == "pending"
    assert [s["process"] for s in job.progress] == pipeline_steps()


def test_a_failed_nextflow_step_keeps_its_reason_from_the_log_when_stdout_is_lost(run_replaying):
    outcome, _ = run_replaying("nextflow", trace=DERIVED / "trace-failure-aborted.txt",
                               log=DERIVED / "failure-nextflow.log")
    assert (outcome.step, outcome.exit_code) == ("CALL_VARIANTS", 3)
    assert outcome.error.splitlines()[0] == \
        "Process `CALL_VARIANTS (TEST1)` terminated with an error exit status (3)"
    assert outcome.error.splitlines()[-1] == \
        "call_variants: error: bcftools call failed on chr1:10001-10480"
    assert "Session aborted" not in outcome.error and "Tip:" not in outcome.error


def test_a_nextflow_error_outside_any_step_is_kept(run_replaying):
    outcome, job = run_replaying("nextflow", stdout=DERIVED / "params-error-stdout.txt")
    assert (outcome.step, outcome.exit_code) == ("pipeline", 1)
    assert outcome.error == "Invalid --caller 'freebayes': expected one of bcftools, gatk"
    assert "running" not in statuses(job).values()


def test_a_failed_run_local_step_keeps_its_reason_from_stderr(run_replaying, tmp_path):
    stderr = tmp_path / "run-local.err"
    stderr.write_text(
        "ERROR ~ Error executing process > 'CALL_VARIANTS (TEST1)'\n\nCaused by:\n"
        "  Process `CALL_VARIANTS (TEST1)` terminated with an error exit status (3)\n\n"
        "Command executed:\n  call_variants --sample TEST1\n\nCommand exit status:\n  3\n\n"
        "Command error:\n  step_hook: simulated failure in CALL_VARIANTS "
        "(WES_FAIL_STEP=CALL_VARIANTS:3)\n\nWork dir:\n  /w/3c/7a3b96\n")
    outcome, _ = run_replaying("local", stderr=stderr, code=3)
    assert (outcome.step, outcome.exit_code) == ("CALL_VARIANTS", 3)
    assert outcome.error == (
        "Process `CALL_VARIANTS (TEST1)` terminated with an error exit status (3)\n"
        "step_hook: simulated failure in CALL_VARIANTS (WES_FAIL_STEP=CALL_VARIANTS:3)")


def test_a_runner_that_says_nothing_still_leaves_a_reason(run_replaying):
    outcome, _ = run_replaying("nextflow", code=7)
    assert (outcome.step, outcome.exit_code) == ("pipeline", 7)
    assert outcome.error.startswith("The pipeline runner exited with status 7 and wrote no "
                                    "reason; see ")


def test_no_step_is_left_running_after_a_failed_run(run_replaying):
    """Nextflow writes a task still in flight when the run ends as it stood (RUNNING): once the
    runner has exited, that step was stopped with the run."""
    outcome, job = run_replaying("nextflow", trace=DERIVED / "trace-failure-in-flight.txt")
    steps = statuses(job)
    assert steps["FLAGSTAT"] == "failed" and outcome.step == "FLAGSTAT"
    assert steps["MARK_DUPLICATES"] == "stopped"
    assert "running" not in steps.values()


def test_no_step_is_left_running_when_the_trace_is_empty(run_replaying):
    _, job = run_replaying("local", code=1)
    assert set(statuses(job).values()) == {"pending"}


def test_a_captured_nextflow_failure_names_the_failing_step(run_replaying):
    outcome, job = run_replaying("nextflow", trace=CAPTURED / "trace-failure.txt")
    assert (outcome.step, outcome.exit_code) == ("CALL", 3)
    assert statuses(job)["CALL"] == "failed" and statuses(job)["INDEX"] == "completed"


@pytest.mark.parametrize("exit_field", ["-", "2147483647"])
def test_aborted_tasks_read_as_stopped_with_no_exit_code(exit_field):
    text = (DERIVED / "trace-cancelled.txt").read_text().replace("\tABORTED\t-\t",
                                                                 f"\tABORTED\t{exit_field}\t")
    records = parse_trace(text, strict=True)
    aborted = records[-1]
    assert (aborted.process, aborted.status, aborted.exit_code) == ("BWA_ALIGN", "ABORTED", None)
    assert aborted.duration_s is None and aborted.peak_rss_bytes is None
    states = {s.process: s for s in summarise(records, pipeline_steps())}
    assert (states["BWA_ALIGN"].status, states["BWA_ALIGN"].exit_code) == ("stopped", None)
    assert states["FASTP_QC"].status == "completed" and states["SORT_FIXMATE"].status == "pending"
    assert {s.status for s in states.values()} <= set(StepStatus.values)


def test_the_job_page_shows_an_aborted_step_as_stopped(client_for, manager, run_replaying):
    _, job = run_replaying("nextflow", trace=DERIVED / "trace-failure-aborted.txt",
                           stdout=DERIVED / "failure-stdout.txt")
    page = client_for(manager).get(f"/labs/lab-a/jobs/{job.pk}/").content.decode()
    row = page[page.index('data-step="QC_SUMMARY"'):]
    row = row[:row.index("</tr>")]
    assert 'data-step-status="stopped"' in row and ">Stopped</span>" in row
    assert "<td>–</td>" in row            # no exit code


def test_failure_reports_are_found_only_where_they_are():
    assert failure_from_report((CAPTURED / "trace-success.txt").read_text()) is None
    found = failure_from_report((DERIVED / "failure-nextflow.log").read_text())
    assert (found.process, found.exit_code) == ("CALL_VARIANTS", 3)


STOPPED_BY_THE_CANCEL = """
import json, os, signal, sys, time
from pathlib import Path
outdir = Path(sys.argv[sys.argv.index("--outdir") + 1])
trace = outdir / "pipeline_info" / "trace.txt"
trace.parent.mkdir(parents=True, exist_ok=True)
T = "2026-12-05 06:20:0{}.000"
def row(n, name, status, code, second, complete=True):
    return "\\t".join([str(n), "aa/bbbbbb", str(100 + n), name + " (TEST1)", status, code,
                      T.format(second), T.format(second), T.format(second + 1) if complete else "-",
                      "1s", "1s"]) + "\\n"
trace.write_text("task_id\\thash\\tnative_id\\tname\\tstatus\\texit\\tsubmit\\tstart\\tcomplete\\t"
                 "duration\\trealtime\\n" + row(1, "FASTP_QC", "COMPLETED", "0", 1)
                 + row(2, "BWA_ALIGN", "COMPLETED", "0", 2)
                 + row(3, "SORT_FIXMATE", "COMPLETED", "0", 3))

def stopped(signum, frame):
    # What Nextflow can write when the signal reaches its tasks before its own abort: the two
    # tasks in flight exit 143 and are written FAILED; one is retried and the retry is still
    # submitted when the run ends.
    (outdir / "stop-seen.json").write_text(json.dumps({
        "stop_file": os.environ.get("WES_STOP_FILE"), "tz": os.environ.get("TZ"),
        "stop_file_there": os.path.exists(os.environ.get("WES_STOP_FILE", "/nonexistent"))}))
    with trace.open("a") as fh:
        fh.write(row(4, "FLAGSTAT", "FAILED", "143", 4)
                 + row(5, "MARK_DUPLICATES", "FAILED", "143", 4)
                 + row(6, "MARK_DUPLICATES", "SUBMITTED", "-", 5, complete=False))
    sys.exit(143)

signal.signal(signal.SIGTERM, stopped)
(outdir / "ready").write_text("")
time.sleep(60)
sys.exit(0)
"""


def test_a_cancelled_job_stays_cancelled_when_its_stop_leaves_exit_143_rows(
        lab_a, clinician, settings, tmp_path, monkeypatch):
    """The user cancels while two steps run; the runner, told to stop, leaves them FAILED with
    exit 143 (and a retry of one still submitted) and exits 143. The job stays cancelled: no step
    reads failed or running, and the run's end records no failure."""
    from jobs.runs.runner import _finish
    from jobs.runs.services import job_cancel
    from tenants import audit_actions
    from tenants.models import AuditEvent

    settings.PIPELINE_WORK_DIR = tmp_path / "work"
    job = running_job(lab_a, clinician, runner="nextflow", lease_owner="test-owner",
                      started_at=timezone.now())
    run = PipelineRun(job, "test-owner", publish=lambda job, out_dir: None)
    run.work_dir.mkdir(parents=True)
    monkeypatch.setattr(run, "command", lambda reads, reference: [
        sys.executable, "-c", STOPPED_BY_THE_CANCEL, "--outdir", str(run.out_dir)])
    really_cancelled = run.cancelled

    def cancelled():            # the user presses Cancel once the runner is under way
        if (run.out_dir / "ready").exists() and not job.cancel_requested:
            job_cancel(membership=clinician, job=job)
            job.cancel_requested = True
        return really_cancelled()

    monkeypatch.setattr(run, "cancelled", cancelled)
    outcome = run.run_pipeline({}, None)
    assert run.process.returncode == 143 and not outcome.ok
    finished = _finish(job.pk, "test-owner", outcome)

    assert finished.status == "cancelled"
    assert (finished.failed_step, finished.exit_code, finished.error) == ("", None, "")
    steps = {s["process"]: (s["status"], s["exit_code"]) for s in finished.progress}
    assert steps["FLAGSTAT"] == ("stopped", 143)
    assert steps["MARK_DUPLICATES"][0] == "stopped"
    assert steps["SORT_FIXMATE"] == ("completed", 0)
    assert not {"failed", "running"} & {status for status, _ in steps.values()}
    assert not AuditEvent.objects.filter(action=audit_actions.JOB_FAILED).exists()
    # The runner was told where the stop marker is, which nextflow.config's errorStrategy reads
    # before it retries, and the marker was there before the signal; its times are UTC.
    seen = json.loads((run.out_dir / "stop-seen.json").read_text())
    assert seen == {"stop_file": str(run.stop_file), "tz": "UTC", "stop_file_there": True}


def test_a_dead_workers_run_is_told_to_retry_nothing_before_it_is_ended(lab_a, clinician,
                                                                        settings, tmp_path):
    """A new attempt takes over a run whose worker died on this machine: that run's Nextflow,
    if still there, sees its tasks end 143 as they are ended, and must not run them again."""
    import socket
    from datetime import timedelta

    from jobs.runs.runner import STOP_FILE, _claim
    from jobs.runs.workspace import work_dir_of

    settings.PIPELINE_WORK_DIR = tmp_path / "work"
    job = running_job(lab_a, clinician, runner="nextflow", lease_owner="dead-worker",
                      runner_host=socket.gethostname(),
                      lease_expires_at=timezone.now() - timedelta(seconds=1))
    work_dir_of(job).mkdir(parents=True)
    claimed = _claim(job.pk, "new-worker")
    assert claimed.attempts == 2 and claimed.lease_owner == "new-worker"
    assert (work_dir_of(job) / STOP_FILE).exists()
