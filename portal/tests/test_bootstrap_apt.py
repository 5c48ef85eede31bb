"""scripts/bootstrap waits (bounded) for another apt or dpkg process instead of failing at once.

Real apt-get against a private apt state directory whose locks are held the way apt and dpkg
hold them (fcntl record locks, which `flock` would not conflict with), so nothing of the
machine's own apt state is touched."""

import fcntl
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(shutil.which("apt-get") is None, reason="needs Debian's apt-get")


@pytest.fixture
def apt_state(tmp_path):
    (tmp_path / "lists/partial").mkdir(parents=True)
    (tmp_path / "status").write_text("")
    return tmp_path, ["-o", f"Dir::State::status={tmp_path}/status",
                      "-o", f"Dir::State::Lists={tmp_path}/lists/",
                      "-o", f"Dir::Cache={tmp_path}/cache",
                      "-o", "Dir::Etc::sourcelist=/dev/null",
                      "-o", f"Dir::Etc::sourceparts={tmp_path}/sources.list.d"]


def hold(path: Path, seconds: float) -> threading.Thread:
    """Hold apt's lock on `path` for `seconds`, from this process (apt refuses its own pid no
    differently than another's: the lock is per process)."""
    handle = open(path, "w")
    fcntl.lockf(handle, fcntl.LOCK_EX)

    def release():
        time.sleep(seconds)
        fcntl.lockf(handle, fcntl.LOCK_UN)
        handle.close()
    thread = threading.Thread(target=release)
    thread.start()
    return thread


def apt_get_waiting(args, wait_seconds):
    script = f'. {ROOT}/scripts/lib/apt_wait.sh; sudo=""; log=/dev/null; apt_get_waiting "$@"'
    started = time.monotonic()
    result = subprocess.run(["bash", "-c", script, "bash", *args], capture_output=True, text=True,
                            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                                 "APT_LOCK_WAIT_SECONDS": str(wait_seconds)}, timeout=120)
    return result, time.monotonic() - started


@pytest.mark.parametrize("command,lock", [("update", "lists/lock"), ("check", "lock-frontend")])
def test_it_waits_for_a_lock_another_process_holds_then_runs(apt_state, command, lock):
    state, options = apt_state
    holder = hold(state / lock, seconds=3)
    result, took = apt_get_waiting([*options, command], wait_seconds=30)
    holder.join()
    assert result.returncode == 0, result.stderr
    assert took >= 2.5
    if command == "update":  # apt prints its own "Waiting for cache lock" for dpkg's lock
        assert "another apt or dpkg process holds its lock (Could not get lock " \
               f"{state / lock}" in result.stderr
        assert "waiting up to 30s" in result.stderr


@pytest.mark.parametrize("command,lock", [("update", "lists/lock"), ("check", "lock-frontend")])
def test_the_wait_is_bounded_and_says_what_to_do(apt_state, command, lock):
    state, options = apt_state
    holder = hold(state / lock, seconds=8)
    result, took = apt_get_waiting([*options, command], wait_seconds=2)
    holder.join()
    assert result.returncode != 0
    assert took < 7
    assert "error: another apt or dpkg process still holds its lock after 2s" in result.stderr
    assert "run scripts/bootstrap again" in result.stderr


def test_bootstrap_installs_through_the_waiting_apt_get():
    script = (ROOT / "scripts/bootstrap").read_text()
    assert "apt_get_waiting update" in script and "apt_get_waiting install" in script
    assert "$sudo apt-get" not in script
