"""A full work disk (a real tmpfs of 200 MB mounted as WES_WORK_DIR): finished runs' folders are
pruned so a job fits again; a job that does not fit fails at once with "the worker's disk is
full" (and /healthz says so) instead of crash-looping, and the worker goes on serving."""

import subprocess
import uuid

import pytest

from jobs.models import Job, JobStatus
from tests.helpers import make_user

pytestmark = pytest.mark.django_db(transaction=True)
MB = 1024 * 1024


@pytest.fixture
def small_disk(pipeline_env, tmp_path, settings):
    mount = tmp_path / "small-work"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200m", "tmpfs", str(mount)],
                      capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    settings.PIPELINE_WORK_DIR = mount
    settings.WORK_MIN_FREE_BYTES = 20 * MB
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(path, leave_bytes):
    """Write a file that leaves `leave_bytes` free on its disk."""
    import shutil

    path.parent.mkdir(parents=True, exist_ok=True)
    size = shutil.disk_usage(path.parent).free - leave_bytes
    with open(path, "wb") as handle:
        handle.truncate(0)
        for _ in range(size // MB):
            handle.write(b"\0" * MB)


def test_a_full_work_disk_is_pruned_named_and_survived(small_disk, ready_sample, clinician,
                                                      manager, client_for):
    # A folder a dead worker left behind, of a job that no longer exists, fills the disk.
    left_behind = small_disk / str(uuid.uuid4())
    fill(left_behind / "work" / "big.bam", leave_bytes=5 * MB)
    first = ready_sample(clinician)
    client_for(clinician).post(f"/labs/lab-a/samples/{first.pk}/submit/")
    job = Job.objects.get(sample=first)
    assert job.status == JobStatus.SUCCEEDED, (job.failed_step, job.error)
    assert not left_behind.exists(), "the folder no retry needs was pruned"

    # Something else fills the disk: the next job fails at once, saying why.
    fill(small_disk / "not-a-run.bin", leave_bytes=5 * MB)
    second = ready_sample(clinician, name="TEST2")
    client_for(clinician).post(f"/labs/lab-a/samples/{second.pk}/submit/")
    job = Job.objects.get(sample=second)
    assert (job.status, job.failed_step, job.attempts) == (JobStatus.FAILED, "staging inputs", 1)
    assert job.error.startswith("The worker's disk is full:") and "needed for this run" in job.error
    staff = make_user("ops@portal.test", is_staff=True)
    health = client_for(staff).get("/healthz").json()["checks"]["work_disk"]
    assert health["ok"] is False and "the worker's disk is full" in health["error"]

    # Space is freed: the same worker runs the retried job.
    (small_disk / "not-a-run.bin").unlink()
    client_for(manager).post(f"/labs/lab-a/jobs/{job.pk}/retry/")
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, (job.failed_step, job.error)
