"""Real django-q2 worker processes for tests, on the test database and the test S3 buckets."""

import os
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings

from jobs.models import Job
from tests.helpers import child_database_url

ROOT = Path(__file__).resolve().parents[3]
LEASE_SECONDS = 10


def worker_env() -> dict:
    env = {**os.environ, "DATABASE_URL": child_database_url(), "REDIS_URL": "",
           "MINIO_ENDPOINT": settings.MINIO_ENDPOINT, "WES_WORK_DIR": str(settings.PIPELINE_WORK_DIR),
           "WES_REFERENCE_BUILD": settings.REFERENCE_BUILD,
           "WES_PIPELINE_RUNNER": settings.PIPELINE_RUNNER,   # pipeline_env's choice
           "WES_JOB_LEASE_SECONDS": str(LEASE_SECONDS), "WES_QUEUE_WORKERS": "1"}
    for name in ("RAW", "INTERMEDIATE", "RESULTS", "ARCHIVES", "REFERENCE", "LOGS"):
        env[f"MINIO_BUCKET_{name}"] = getattr(settings, f"MINIO_BUCKET_{name}")
    return env


def start_worker(log: Path, **env) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT,
                            env={**worker_env(), **env}, stdout=open(log, "ab"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def wait_for(predicate, timeout: float, what: str, job_id=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    state = ""
    if job_id:
        job = Job.objects.get(pk=job_id)
        state = (f": job is {job.status}, attempt {job.attempts}, step {job.failed_step!r}, "
                 f"error {job.error[-1500:]!r}, progress {job.progress}")
    raise AssertionError(f"timed out waiting for {what}{state}")



def steps_started(work_dir: Path) -> list[Path]:
    """Task directories of the run whose step has begun and not ended (`.command.begin`, no
    `.exitcode`): written by both runners, and on a shared file system seen from here whichever
    executor (local, Slurm) runs the step."""
    return [begin.parent for begin in Path(work_dir, "work").glob("*/*/.command.begin")
            if not (begin.parent / ".exitcode").exists()]


def alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
