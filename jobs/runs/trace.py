"""Read Nextflow's `-with-trace` file (standard library only): the one parser of it, for the
runner's progress and for a run's compute totals.

Recorded against Nextflow 24.10.9 (fixtures in `tests/fixtures/nextflow-24.10.9/`).

Trace file
    Tab-separated text, one header line, then one row per task *as the task ends* (completion
    order, not task_id order; a running task has no row yet). Columns are looked up by header name,
    so `trace.fields` may reorder or drop any column except `task_id`, `name` and `status`; a
    missing column reads as "-". The default human-readable format is expected (not `trace.raw`).

    * `submit`, `start` and `complete` (when the task was submitted, began and ended; `start`
      and `complete` are not among Nextflow's default fields, nextflow.config asks for them) are
      `yyyy-MM-dd HH:mm:ss.SSS` in the *local time zone of the machine running Nextflow*, with no
      offset. They are returned as naive datetimes; the caller must know that zone (the portal
      runs its runner with TZ=UTC). A task that never started or never ended has "-".
    * durations (`duration`, `realtime`) are Nextflow `Duration` strings: `424ms`, `3.5s` (under a
      minute, one decimal), then whole seconds as `1m 2s`, `1h 3m 4s`, `2d 1h`. Returned in seconds.
    * sizes (`peak_rss`, `peak_vmem`, `rchar`, `wchar`) are Nextflow `MemoryUnit` strings:
      1024-based units spelled KB/MB/GB/... (really KiB/MiB/GiB), rounded to one decimal
      (`1 GB`, `22.6 MB`, `1019.7 MB`), and `0` for zero. Returned in bytes, so only accurate to
      0.05 of the unit shown: a "1 GB" peak_rss was really 1,123,880,960 bytes (the weblog gives
      exact bytes).
    * `-` (a failed task's metrics, an unknown exit) reads as None; so does exit 2147483647
      (Integer.MAX_VALUE, Nextflow's "no exit status yet").

Malformed rows (wrong number of fields, a value that does not parse) are skipped by default and
counted in `TraceTail.malformed`; `parse_trace(text, strict=True)` raises ValueError naming the
1-based line number instead. A first line that is not a trace header always raises ValueError.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path

NOT_FINISHED = 2147483647           # Integer.MAX_VALUE: Nextflow's exit status of a task not ended
REQUIRED_COLUMNS = ("task_id", "name", "status")

_DURATION_MS = {"ms": 1, "milli": 1, "millis": 1,
                "s": 1000, "sec": 1000, "second": 1000, "seconds": 1000,
                "m": 60_000, "min": 60_000, "minute": 60_000, "minutes": 60_000,
                "h": 3_600_000, "hour": 3_600_000, "hours": 3_600_000,
                "d": 86_400_000, "day": 86_400_000, "days": 86_400_000}
_DURATION_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]+)")
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGTPEZ]?)B?", re.IGNORECASE)
_SIZE_POWERS = {"": 0, "K": 1, "M": 2, "G": 3, "T": 4, "P": 5, "E": 6, "Z": 7}
_NAME = re.compile(r"(\S+) \((.*)\)")


@dataclass(frozen=True)
class TaskRecord:
    """One trace row. `name` is "PROCESS (tag)"; without a tag Nextflow may show an index there."""

    task_id: int
    hash: str
    native_id: str
    name: str
    process: str
    tag: str
    status: str
    exit_code: int | None
    submitted_at: datetime | None   # naive, in the local time of the machine running Nextflow
    duration_s: float | None
    realtime_s: float | None
    cpu_percent: float | None
    peak_rss_bytes: int | None
    peak_vmem_bytes: int | None
    rchar_bytes: int | None
    wchar_bytes: int | None
    started_at: datetime | None = None      # naive, like submitted_at
    completed_at: datetime | None = None


@dataclass(frozen=True)
class StepState:
    process: str
    status: str                     # a StepStatus value (jobs/models/runs.py)
    duration_s: float | None = None
    exit_code: int | None = None
    started_at: datetime | None = None      # naive, in the trace's zone
    finished_at: datetime | None = None


def _blank(text: str) -> bool:
    return text.strip() in ("", "-")


def parse_duration(text: str) -> float | None:
    """Seconds in a Nextflow duration ("424ms", "3.5s", "1h 3m 4s"); None for "-" or ""."""
    if _blank(text):
        return None
    total, pos, text = Decimal(0), 0, text.strip()
    while pos < len(text):
        match = _DURATION_PART.match(text, pos)
        if not match or match.group(2) not in _DURATION_MS:
            raise ValueError(f"not a Nextflow duration: {text!r}")
        total += Decimal(match.group(1)) * _DURATION_MS[match.group(2)]
        pos = match.end()
    return float(total / 1000)


def parse_size(text: str) -> int | None:
    """Bytes in a Nextflow size ("1 GB" = 1024**3, "809.8 KB", "0"); None for "-" or ""."""
    if _blank(text):
        return None
    match = _SIZE.fullmatch(text.strip())
    if not match:
        raise ValueError(f"not a Nextflow size: {text!r}")
    number, unit = match.groups()
    return round(Decimal(number) * 1024 ** _SIZE_POWERS[unit.upper()])


def split_name(name: str) -> tuple[str, str]:
    """("FASTP", "SAMPLE1") from "FASTP (SAMPLE1)"; ("INDEX", "") from "INDEX"."""
    match = _NAME.fullmatch(name)
    return (match.group(1), match.group(2)) if match else (name, "")


def _moment(text: str) -> datetime | None:
    return None if _blank(text) else datetime.fromisoformat(text.strip())


def _exit(text: str) -> int | None:
    code = None if _blank(text) else int(text)
    return None if code == NOT_FINISHED else code


class _RowParser:
    """Turns complete lines into records; the first line fed must be the header."""

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.columns: list[str] | None = None
        self.malformed = 0

    def feed(self, lineno: int, line: str) -> TaskRecord | None:
        line = line.rstrip("\r")
        if self.columns is None:
            columns = line.split("\t")
            missing = [c for c in REQUIRED_COLUMNS if c not in columns]
            if missing:
                raise ValueError(f"line {lineno}: not a Nextflow trace header "
                                 f"(no {', '.join(missing)} column): {line[:80]!r}")
            self.columns = columns
            return None
        if not line.strip():
            return None
        try:
            return self._record(line)
        except ValueError as exc:
            if self.strict:
                raise ValueError(f"line {lineno}: {exc}") from None
            self.malformed += 1
            return None

    def _record(self, line: str) -> TaskRecord:
        fields = line.split("\t")
        if len(fields) != len(self.columns):
            raise ValueError(f"expected {len(self.columns)} tab-separated fields, "
                             f"got {len(fields)}")
        row = dict(zip(self.columns, fields))
        col = lambda key: row.get(key, "-")  # noqa: E731
        process, tag = split_name(row["name"])
        cpu = col("%cpu")
        return TaskRecord(
            task_id=int(row["task_id"]), hash=col("hash"), native_id=col("native_id"),
            name=row["name"], process=process, tag=tag, status=row["status"],
            exit_code=_exit(col("exit")),
            submitted_at=_moment(col("submit")),
            duration_s=parse_duration(col("duration")), realtime_s=parse_duration(col("realtime")),
            cpu_percent=None if _blank(cpu) else float(cpu.rstrip("%").replace(",", ".")),
            peak_rss_bytes=parse_size(col("peak_rss")),
            peak_vmem_bytes=parse_size(col("peak_vmem")),
            rchar_bytes=parse_size(col("rchar")), wchar_bytes=parse_size(col("wchar")),
            started_at=_moment(col("start")), completed_at=_moment(col("complete")),
        )


def parse_trace(text: str, strict: bool = False) -> list[TaskRecord]:
    """Records of a trace file's text, in file order.

    Only newline-terminated lines count: an unterminated last line (still being written) is
    ignored. Empty or header-only text gives []. Malformed rows are skipped, or with `strict`
    raise ValueError("line N: ...").
    """
    parser = _RowParser(strict)
    complete_lines = text.split("\n")[:-1]
    return [rec for n, line in enumerate(complete_lines, 1) if (rec := parser.feed(n, line))]


class TraceTail:
    """Incremental reader of a trace file that Nextflow is still writing.

    `poll()` returns the records completed since the previous poll: [] while the file does not
    exist, and a half-written line waits for its newline. If the file is replaced or truncated
    (e.g. `trace.overwrite = true` on a new attempt) reading starts again from its header.
    Malformed rows are skipped and counted in `malformed`; a bad header raises ValueError.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.malformed = 0
        self._restart(None)

    def _restart(self, identity: tuple[int, int] | None) -> None:
        self._identity, self._offset, self._lineno = identity, 0, 0
        self._parser = _RowParser(strict=False)

    def poll(self) -> list[TaskRecord]:
        try:
            with self.path.open("rb") as fh:
                stat = os.fstat(fh.fileno())
                identity = (stat.st_dev, stat.st_ino)
                if identity != self._identity or stat.st_size < self._offset:
                    self._restart(identity)
                fh.seek(self._offset)
                data = fh.read()
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n") + 1             # bytes up to the last complete line
        self._offset += end
        records = []
        for raw in data[:end].split(b"\n")[:-1]:
            self._lineno += 1
            before = self._parser.malformed
            record = self._parser.feed(self._lineno, raw.decode("utf-8", "replace"))
            self.malformed += self._parser.malformed - before
            if record:
                records.append(record)
        return records


# ABORTED: a task Nextflow killed because the run stopped (cancelled, or another task failed);
# it has no exit status. NEW/SUBMITTED/RUNNING rows are the tasks still in flight that Nextflow
# writes when the run ends (TraceFileObserver.onFlowComplete); once the runner has exited they
# were stopped too (`settle`).
_STEP_STATUS = {"COMPLETED": "completed", "CACHED": "cached", "FAILED": "failed",
                "ABORTED": "stopped", "NEW": "running", "SUBMITTED": "running",
                "RUNNING": "running"}


def summarise(records: list[TaskRecord],
              expected_steps: list[str] | None = None) -> list[StepState]:
    """One StepState per process, in `expected_steps` order (absent ones "pending").

    Without `expected_steps`, processes come in order of their lowest task_id. Processes seen
    but not expected are appended in that order, so no failure goes unshown. Of several records
    for one process (a failed attempt and its retry, or several samples) the latest by
    (submitted_at, task_id) decides. ABORTED is "stopped"; statuses outside
    COMPLETED/CACHED/FAILED/ABORTED count as "running". Note: a FAILED attempt that Nextflow will
    retry shows "failed" until the retry's row.

    A step started when its first attempt started (the earliest `start`) and finished when the
    deciding record completed; `duration_s` is the deciding record's alone.
    """
    latest: dict[str, TaskRecord] = {}     # keys in order of first appearance by task_id
    first_start: dict[str, datetime] = {}
    for rec in sorted(records, key=lambda r: r.task_id):
        current = latest.get(rec.process)
        if current is None or _recency(rec) >= _recency(current):
            latest[rec.process] = rec
        if rec.started_at and (rec.process not in first_start
                               or rec.started_at < first_start[rec.process]):
            first_start[rec.process] = rec.started_at
    expected = list(expected_steps or [])
    steps = expected + [process for process in latest if process not in expected]
    states = []
    for process in steps:
        rec = latest.get(process)
        if rec is None:
            states.append(StepState(process, "pending"))
        else:
            states.append(StepState(process, _STEP_STATUS.get(rec.status, "running"),
                                    rec.duration_s, rec.exit_code,
                                    first_start.get(process), rec.completed_at))
    return states


# The exit statuses of a task ended by SIGTERM or SIGKILL (128 + signal), as Nextflow's local
# executor and run-local report them.
STOP_EXITS = (143, 137)


def settle(states: list[StepState], *, stopped: bool = False) -> list[StepState]:
    """The steps of a run whose runner has exited: none is running any more (a row still
    "running" was a task stopped with the run); the steps that never started stay pending.

    `stopped`: the portal stopped the run (a cancel, a lost lease). A task that then ended
    "failed" with a stop signal's exit status was killed by that stop, not failed by itself: it
    reads "stopped" too (its exit status stays as recorded)."""
    return [replace(s, status="stopped")
            if s.status == "running" or (stopped and s.status == "failed"
                                         and s.exit_code in STOP_EXITS)
            else s for s in states]


def _recency(rec: TaskRecord) -> tuple[datetime, int]:
    return (rec.submitted_at or datetime.min, rec.task_id)


def compute_totals(path: Path) -> tuple[float, float, int]:
    """(cpu seconds, realtime seconds, tasks) of a trace file: each task's realtime times its
    %cpu / 100 (400% on four cores for an hour is four CPU hours). Tasks without figures (a
    failed task's "-") count as none; a missing file as an empty trace."""
    try:
        records = parse_trace(Path(path).read_text(errors="replace"))
    except FileNotFoundError:
        return 0.0, 0.0, 0
    cpu = sum(r.realtime_s * r.cpu_percent / 100 for r in records
              if r.realtime_s is not None and r.cpu_percent is not None)
    realtime = sum(r.realtime_s for r in records if r.realtime_s is not None)
    return cpu, realtime, len(records)
