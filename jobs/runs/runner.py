"""The subprocess boundary to the pipeline: one job run, from lease to verified outputs.

A run (1) claims the job's lease, so no two workers ever run it at once; (2) stages the inputs
from S3 and checks their SHA-256; (3) runs Nextflow, or the local runner with the same steps
when Nextflow is absent, in the job's own work directory (`-resume` on later attempts), renewing
the lease and tailing the trace file for progress; (4) publishes every output to its bucket and
checks it there, through the `publish` step its caller gives (jobs/results/publishing.py, composed
in jobs/tasks.py). Only then is the job "succeeded". A worker that dies leaves a lease that runs
out; the reaper queues the job again and the next attempt resumes.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction

from common.db import for_update, patiently
from common.queue import enqueue
from jobs.models import Job, JobStatus
from jobs.runs.compute import Compute
from jobs.runs.processes import run_end
from jobs.runs.reference import ReferenceError, StagedReference, reference_stage
from jobs.runs.run_metrics import run_ended
from jobs.runs.failure import failure_of_run
from jobs.runs.trace import TraceTail, settle, summarise
from jobs.runs.workspace import WorkDiskFull, disk_full_error, require_space, work_dir_of
from storage import metric_records, s3
from storage.buckets import bucket_name
from storage.checksums import sha256_file as sha256_of
from tenants import audit_actions
from tenants.audit import SYSTEM, audit_record

log = logging.getLogger(__name__)

PIPELINE_DIR = Path(settings.BASE_DIR) / "nextflow"
LOCAL_RUNNER = PIPELINE_DIR / "bin" / "run-local"
DATABASE_DOWN = (OperationalError, InterfaceError)
STOP_GRACE_SECONDS = 8      # a runner told to stop (SIGTERM) that is still there is killed
STOP_FILE = "stop-requested"   # in the job's work dir: the errorStrategy retries nothing then


class StagingError(Exception):
    """The inputs could not be staged: a FASTQ or the reference did not arrive intact."""


class PublishError(Exception):
    """What the pipeline left cannot be published or loaded; `step` names the phase."""

    def __init__(self, step: str, message: str):
        super().__init__(message)
        self.step = step


# Publishes a finished run's out_dir (every output to its bucket, checked; the tables loaded).
Publish = Callable[[Job, Path], None]


@functools.cache
def pipeline_steps() -> list[str]:
    """The processes in pipeline order (the local runner and main.nf share this list)."""
    steps_file = PIPELINE_DIR / "steps.json"
    if not steps_file.exists():
        return []
    data = json.loads(steps_file.read_text())
    return [s["process"] if isinstance(s, dict) else s for s in data.get("steps", data)]


def choose_runner() -> str:
    if settings.PIPELINE_RUNNER != "auto":
        return settings.PIPELINE_RUNNER
    return "nextflow" if shutil.which("nextflow") and shutil.which("java") else "local"


def _claim(job_id, owner: str) -> Job | None:
    with transaction.atomic():
        job = for_update(Job.objects).select_related("sample", "lab").get(pk=job_id)
        if not job.can_start():
            return None
        if job.status == JobStatus.RUNNING:  # a dead worker's run: stop what it left behind
            _stop_leftover_run(job)
            metric_records.count("lease_takeovers")
        job.start(owner=owner, lease_seconds=settings.JOB_LEASE_SECONDS)
        job.runner = choose_runner()
        job.runner_host, job.runner_pgid = socket.gethostname(), None
        job.save()
        audit_record(actor=SYSTEM, action=audit_actions.JOB_STARTED, lab=job.lab, resource_type="job",
                     resource_id=job.pk,
                     details={"job": str(job.pk), "sample": str(job.sample_id),
                              "attempt": job.attempts, "runner": job.runner, "worker": owner,
                              "on_behalf_of": job.submitted_by.email})
    return job


def _stop_leftover_run(job: Job) -> None:
    """A dead worker's run on this machine: its runner and every step still working in the
    job's work directory are stopped before the next attempt starts there."""
    if job.runner_host == socket.gethostname():
        work_dir = work_dir_of(job)
        if work_dir.is_dir():     # a Nextflow that sees its tasks end 143 must not retry them
            (work_dir / STOP_FILE).touch()
        run_end(work_dir=work_dir, runner_pgid=job.runner_pgid)




class Heartbeat(threading.Thread):
    """Renews the lease while the run goes on; stops the run when the lease is lost or the job
    is cancelled."""

    def __init__(self, job_id, owner: str, on_lost):
        super().__init__(daemon=True)
        self.job_id, self.owner, self.on_lost = job_id, owner, on_lost
        self.stopped = threading.Event()

    def run(self) -> None:
        interval = max(1.0, settings.JOB_LEASE_SECONDS / 4)
        try:
            while not self.stopped.wait(interval):
                try:
                    held = self.beat()
                except DATABASE_DOWN as exc:
                    # Nobody can take the lease over while the database is down either; the
                    # next beat that reaches it renews the lease, or learns it was lost.
                    log.warning("heartbeat of job %s: database did not answer (%s)",
                                self.job_id, exc)
                    connection.close()
                    continue
                if not held:
                    self.on_lost()
                    return
        finally:
            connection.close()

    def beat(self) -> bool:
        with transaction.atomic():
            job = for_update(Job.objects).get(pk=self.job_id)
            if not job.renew(owner=self.owner, lease_seconds=settings.JOB_LEASE_SECONDS):
                return False
            job.save(update_fields=["heartbeat_at", "lease_expires_at"])
            return True

    def stop(self) -> None:
        self.stopped.set()


@dataclass
class Outcome:
    ok: bool
    step: str = ""
    exit_code: int | None = None
    error: str = ""


def job_run(*, job_id, publish: Publish) -> Job | None:
    """Run the job's pipeline once, if its lease can be taken; `publish` stores what it made."""
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    job = _claim(job_id, owner)
    if job is None:
        return None
    run = PipelineRun(job, owner, publish)
    try:
        outcome = run.execute()
    except (StagingError, ReferenceError, WorkDiskFull) as exc:
        outcome = Outcome(False, step="staging inputs", error=str(exc))
    except OSError as exc:
        if disk_full_error(exc) is None:
            raise
        outcome = Outcome(False, step=run.phase, error=disk_full_error(exc))
    except PublishError as exc:
        outcome = Outcome(False, step=exc.step, error=str(exc))
    except s3.StorageError as exc:
        outcome = Outcome(False, step=run.phase, error=f"storage: {exc}")
    finished = patiently(lambda: _finish(job.pk, owner, outcome))
    if finished.status == JobStatus.CANCELLED:
        # Outputs published before the cancel go, with the records key (jobs/records/cancelled.py).
        enqueue("jobs.tasks.discard_cancelled_outputs", str(finished.pk))
    if finished.status in (JobStatus.SUCCEEDED, JobStatus.CANCELLED):
        # Published and verified, or not wanted; a failed run keeps its work dir for -resume.
        shutil.rmtree(run.work_dir, ignore_errors=True)
    return finished


def _finish(job_id, owner: str, outcome: Outcome) -> Job:
    with transaction.atomic():
        job = for_update(Job.objects).select_related("lab").get(pk=job_id)
        if job.status != JobStatus.RUNNING or job.lease_owner != owner:
            return job  # cancelled, or taken over after this worker lost its lease
        if outcome.ok:
            job.succeed(owner=owner)
            action, details = audit_actions.JOB_SUCCEEDED, {"outputs": job.outputs.count()}
        else:
            job.fail(owner=owner, step=outcome.step, exit_code=outcome.exit_code,
                     error=outcome.error)
            action = audit_actions.JOB_FAILED
            details = {"step": outcome.step, "exit_code": outcome.exit_code,
                       "error": outcome.error[-2000:]}
        job.save()
        run_ended(job)
        audit_record(actor=SYSTEM, action=action, lab=job.lab, resource_type="job",
                     resource_id=job.pk, details={"job": str(job.pk), "attempt": job.attempts,
                                                  **details})
        if outcome.ok:
            enqueue("jobs.tasks.draft_report", str(job.pk))   # report_drafts_resume if lost
        else:
            enqueue("jobs.tasks.send_notification", "job_failed", str(job.pk))
    return job


class PipelineRun:
    def __init__(self, job: Job, owner: str, publish: Publish):
        self.job, self.owner, self.publish = job, owner, publish
        self.work_dir = work_dir_of(job)
        self.out_dir = self.work_dir / "out"
        self.phase = "staging inputs"
        self.process: subprocess.Popen | None = None
        self.stopped_by = ""
        self.stop_asked = 0.0         # time.monotonic() of the first SIGTERM to the runner

    def execute(self) -> Outcome:
        require_space(self.job)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        reads, reference = self.stage_inputs()
        heartbeat = Heartbeat(self.job.pk, self.owner, on_lost=self.stop_runner)
        heartbeat.start()
        try:
            self.phase = "running the pipeline"
            outcome = self.run_pipeline(reads, reference)
            if not outcome.ok:
                return outcome
            self.phase = "publishing outputs"
            patiently(lambda: self.publish(self.job, self.out_dir))
            return Outcome(True)
        finally:
            heartbeat.stop()

    def stage_inputs(self) -> tuple[dict[str, Path], StagedReference]:
        """The read pair in the job's work directory and the reference bundle in the worker's
        cache, every file checked against its SHA-256."""
        input_dir = self.work_dir / "input"
        input_dir.mkdir(exist_ok=True)
        staged = {}
        for f in self.job.sample.files.all():
            path = input_dir / f"{self.job.sample.name}_R{f.read}.fastq.gz"
            if not (path.exists() and sha256_of(path) == f.sha256):
                s3.download_path(bucket_name("raw"), f.key, path)
                if sha256_of(path) != f.sha256:
                    raise StagingError(f"{f.label} as read from storage does not match its "
                                       "verified SHA-256")
            staged[f"r{f.read}"] = path
        reference = reference_stage(build=settings.REFERENCE_BUILD,
                                    cache_dir=Path(settings.PIPELINE_WORK_DIR) / "reference")
        return staged, reference

    def command(self, reads: dict[str, Path], reference: StagedReference) -> list[str]:
        sample = self.job.sample.name
        files = reference.paths
        args = ["--sample", sample, "--r1", str(reads["r1"]), "--r2", str(reads["r2"]),
                "--reference", str(files["reference"]), "--targets", str(files["targets"]),
                "--annotation", str(files["annotation"]), *_bundle_args(reference),
                "--outdir", str(self.out_dir)]
        resume = self.job.attempts > 1
        if self.job.runner == "nextflow":
            info = self.out_dir / "pipeline_info"
            return ["nextflow", "run", str(PIPELINE_DIR / "main.nf"), "-ansi-log", "false",
                    "-profile", settings.NEXTFLOW_PROFILE, "-work-dir", str(self.work_dir / "work"),
                    *Compute.from_settings(settings).write(self.work_dir / "nextflow"),
                    "-with-trace", str(info / "trace.txt"), "-with-report",
                    str(info / "report.html"), "-with-timeline", str(info / "timeline.html"),
                    *(["-resume"] if resume else []), *args]
        return [sys.executable, str(LOCAL_RUNNER), *args,
                "--work-dir", str(self.work_dir / "work"), *(["--resume"] if resume else [])]

    def run_pipeline(self, reads: dict[str, Path], reference: StagedReference) -> Outcome:
        logs = self.work_dir / "logs"
        logs.mkdir(exist_ok=True)
        stdout_path = logs / f"attempt-{self.job.attempts}.out"
        stderr_path = logs / f"attempt-{self.job.attempts}.err"
        started = time.time()
        trace_path = self.out_dir / "pipeline_info" / "trace.txt"
        if trace_path.exists():  # the previous attempt's: keep it aside, read only this one's
            trace_path.rename(logs / f"trace-before-attempt-{self.job.attempts}.txt")
        trace = TraceTail(trace_path)
        records = []
        with open(stdout_path, "wb") as out, \
                open(stderr_path, "wb") as err:
            self.stop_file.unlink(missing_ok=True)
            self.process = subprocess.Popen(self.command(reads, reference), cwd=self.work_dir,
                                            stdout=out, stderr=err, env=self.runner_env(),
                                            start_new_session=True, preexec_fn=_die_with_parent)
            patiently(lambda: Job.objects.filter(pk=self.job.pk)
                      .update(runner_pgid=self.process.pid))
            while self.process.poll() is None:
                try:
                    self.update_progress(trace, records)
                    if self.cancelled():
                        self.stop_runner()
                except DATABASE_DOWN:
                    connection.close()   # the pipeline goes on; checked again at the next tick
                if self.stop_asked and time.monotonic() - self.stop_asked > STOP_GRACE_SECONDS:
                    _signal_group(self.process.pid, signal.SIGKILL)
                try:
                    self.process.wait(timeout=1)  # returns at once when the runner exits
                except subprocess.TimeoutExpired:
                    pass
        # A runner that was killed (or cancelled) may leave steps behind, and a killed launcher
        # its own children (its process group): none outlives the run.
        run_end(work_dir=self.work_dir / "work", runner_pgid=self.process.pid)
        patiently(lambda: self.update_progress(trace, records, final=True))
        if self.stopped_by:
            patiently(lambda: self.mark_unfinished_steps("stopped"))
            return Outcome(False, step=self.stopped_by, error=self.stopped_by)
        if self.process.returncode == 0:
            return Outcome(True)
        failed = [s for s in summarise(records, pipeline_steps() or None) if s.status == "failed"]
        # Where each runner writes its error report: Nextflow to stdout and .nextflow.log (this
        # attempt's only: a Nextflow that never started leaves the previous one in place),
        # run-local to stderr.
        nextflow_log = self.work_dir / ".nextflow.log"
        fresh_log = _read(nextflow_log) if _modified_since(nextflow_log, started) else ""
        outputs = ([_read(stdout_path), fresh_log, _read(stderr_path)]
                   if self.job.runner == "nextflow" else [_read(stderr_path), _read(stdout_path)])
        failure = failure_of_run(*outputs, exit_status=self.process.returncode,
                                 logs_hint=f"{logs}/{stdout_path.name} and {stderr_path.name}")
        step = failed[0].process if failed else failure.process or "pipeline"
        exit_code = next(code for code in (failed[0].exit_code if failed else None,
                                           failure.exit_code, self.process.returncode)
                         if code is not None)
        error = failure.reason
        if "No space left on device" in error + _read(stderr_path):
            error = disk_full_error(OSError(errno.ENOSPC, "No space left on device")) + "\n" + error
        elif self.process.returncode < 0 and not failed and not failure.process:
            killed_by = signal.Signals(-self.process.returncode).name
            error = (f"The pipeline runner was stopped by {killed_by}; its steps were stopped "
                     f"too. Retry to resume.\n{error}").strip()
        return Outcome(False, step=step, exit_code=exit_code, error=error)

    def update_progress(self, trace: TraceTail, records: list, *, final: bool = False) -> None:
        """Add the trace's new rows to `records` and write the steps' states onto the job."""
        new = trace.poll()
        records += new
        if new or final or len(records) == 0:
            states = summarise(records, pipeline_steps() or None)
            if final:   # the runner has exited: recomputed once from the whole trace
                states = settle(states, stopped=bool(self.stopped_by))
            steps = [{"process": s.process, "status": s.status, "duration_s": s.duration_s,
                      "exit_code": s.exit_code, "started_at": _utc_iso(s.started_at),
                      "finished_at": _utc_iso(s.finished_at)} for s in states]
            # A trace row appears when a task ends; while the runner lives, the first step
            # without one is the one running.
            if self.process and self.process.poll() is None:
                for step in steps:
                    if step["status"] == "pending":
                        step["status"] = "running"
                        break
            Job.objects.filter(pk=self.job.pk).update(progress=steps)

    def cancelled(self) -> bool:
        """Checked every second or so, so that Cancel takes effect at once (the heartbeat alone
        would notice only at its next beat)."""
        return Job.objects.filter(pk=self.job.pk, status=JobStatus.CANCELLED).exists()

    def mark_unfinished_steps(self, status: str) -> None:
        job = Job.objects.get(pk=self.job.pk)
        steps = [{**step, "status": status} if step["status"] in ("running", "pending") else step
                 for step in job.progress]
        Job.objects.filter(pk=self.job.pk).update(progress=steps)

    @property
    def stop_file(self) -> Path:
        return self.work_dir / STOP_FILE

    def runner_env(self) -> dict:
        """The runner's environment: TZ=UTC, so that the trace's times (written in the runner's
        local zone, with no offset) are UTC; WES_STOP_FILE, which nextflow.config's errorStrategy
        reads so as not to retry a task once the portal is stopping the run."""
        return {**os.environ, "TZ": "UTC", "WES_STOP_FILE": str(self.stop_file)}

    def stop_runner(self) -> None:
        """SIGTERM to the runner alone, not its group: Nextflow aborts its session first and
        then kills its tasks itself, writing them ABORTED, with no errorStrategy asked (a task of
        the local executor is in Nextflow's group: signalled with it, it could exit 143 before the
        abort and be retried); run-local stops its step. One that lingers is killed, with its
        group, after a grace period."""
        self.stopped_by = "cancelled or taken over"
        if self.process and self.process.poll() is None and not self.stop_asked:
            self.stop_asked = time.monotonic()
            self.stop_file.touch()
            try:
                os.kill(self.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass


def _bundle_args(reference: StagedReference) -> list[str]:
    """The pipeline's parameters for the bundle's optional parts, only for those the build has:
    a build without ClinVar runs without ClinVar (the `.fai`, bwa index and `.tbi` files need no
    parameter: the pipeline finds them beside their files)."""
    files, args = reference.paths, []
    for role, param in (("snpeff_db", "--snpeff_db"), ("canonical_transcripts", "--canonical"),
                        ("gnomad", "--gnomad"), ("clinvar", "--clinvar")):
        if role in files:
            args += [param, str(files[role])]
            if role in ("gnomad", "clinvar") and reference.version(role):
                args += [f"{param}_version", reference.version(role)]
    return args


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _utc_iso(moment: datetime | None) -> str | None:
    """A trace time (naive, UTC: the runner runs with TZ=UTC) as ISO 8601 with its offset."""
    return moment.replace(tzinfo=timezone.utc).isoformat() if moment else None


def _read(path: Path, limit: int = 1 << 20) -> str:
    """The last `limit` bytes of a log file ("" if there is none)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, os.fstat(fh.fileno()).st_size - limit))
            return fh.read().decode(errors="replace")
    except OSError:
        return ""


def _modified_since(path: Path, moment: float) -> bool:
    try:
        return path.stat().st_mtime >= moment - 1
    except OSError:
        return False


def _die_with_parent() -> None:
    """In the runner's process: receive SIGTERM if the worker dies (Linux), so a killed worker
    does not leave a pipeline running without a lease."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass
