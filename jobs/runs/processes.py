"""Ending every process of a run. The runner (Nextflow, or run-local) starts each pipeline step
in a session of its own, so a step outlives a runner killed with SIGKILL and would go on next to
the job's next attempt. What ties a step to its job is its working directory, inside the job's
work directory; the runner's own process group is recorded on the job (`runner_pgid`)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def processes_in(directory: Path) -> list[int]:
    """Pids of the processes on this machine working in `directory` or below (Linux /proc)."""
    root = os.path.realpath(directory)
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(f"/proc/{entry.name}/cwd")
        except OSError:        # gone meanwhile, or not ours to look at
            continue
        if cwd == root or cwd.startswith(root + os.sep):
            found.append(int(entry.name))
    return found


def run_end(*, work_dir: Path, runner_pgid: int | None = None, grace: float = 5.0) -> int:
    """SIGTERM the runner's process group and the group of every process working in the job's
    work directory, SIGKILL whatever is left after `grace` seconds; returns how many groups were
    signalled. Never the caller's own group (the worker)."""
    groups = {runner_pgid} if runner_pgid else set()
    for pid in processes_in(work_dir):
        try:
            groups.add(os.getpgid(pid))
        except ProcessLookupError:
            pass
    groups.discard(os.getpgrp())
    live = {group for group in groups if _signal(group, signal.SIGTERM)}
    deadline = time.monotonic() + grace
    while live and time.monotonic() < deadline:
        time.sleep(0.1)
        live = {group for group in live if _signal(group, 0)}
    for group in live:
        _signal(group, signal.SIGKILL)
    return len(groups)


def _signal(group: int, sig: int) -> bool:
    try:
        os.killpg(group, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False
