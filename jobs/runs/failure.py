"""Why a pipeline run failed, read from where each runner writes it.

Both runners print the same error report when a step fails: Nextflow to its standard output and
`.nextflow.log` (the stderr of the Nextflow process itself stays nearly empty), run-local to its
standard error. Its form (Nextflow's `TaskProcessor` error report; see
tests/fixtures/nextflow-derived/README.md):

    ERROR ~ Error executing process > 'CALL_VARIANTS (TEST1)'

    Caused by:
      Process `CALL_VARIANTS (TEST1)` terminated with an error exit status (3)

    Command executed:
      ...
    Command exit status:
      3

    Command output:
      (empty)

    Command error:
      <the step's stderr>

    Work dir:
      ...

In `.nextflow.log` the first line is prefixed with a timestamp, the thread and the logger name. An
error outside any process (a bad parameter, a script error) is one `ERROR ~ message` block.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from jobs.runs.trace import split_name

STDERR_LINES = 12       # of the failing step's stderr, kept in the reason

_PROCESS_ERROR = re.compile(r"Error executing process > '(?P<name>[^'\n]+)'")
_ERROR = re.compile(r"^(?:ERROR ~ |\S+ \S+ \[[^\]]*\] ERROR \S+ - )(?P<message>.*)$")
_HEADER = re.compile(r"^(?P<header>[A-Z][A-Za-z ]*):\s*$")
_LOG_LINE = re.compile(r"^[A-Z][a-z]{2}-\d\d \d\d:\d\d:\d\d\.\d{3} \[")   # a .nextflow.log record
_END = ("Tip:", " -- Check", "-- Check")


@dataclass(frozen=True)
class Failure:
    reason: str                     # a few lines that say what failed and why; never empty
    process: str = ""               # the failing process, without its tag ("" if not a step)
    exit_code: int | None = None


def failure_from_report(text: str) -> Failure | None:
    """The last error report in a runner's output, or None when there is none."""
    lines = text.splitlines()
    starts = [n for n, line in enumerate(lines) if _ERROR.match(line)]
    if not starts:
        return None
    start = starts[-1]
    # a process report is logged once; an `ERROR ~` line repeating it may follow in the log
    for n in reversed(starts):
        if _PROCESS_ERROR.search(lines[n]):
            start = n
            break
    message = _ERROR.match(lines[start]).group("message").strip()
    sections = _sections(lines[start + 1:])
    found = _PROCESS_ERROR.search(message)
    if not found:
        body = [line.strip() for line in sections.get("", []) if line.strip()]
        return Failure(reason="\n".join([message, *body][:STDERR_LINES + 1]))
    name = found.group("name")
    cause = " ".join(line.strip() for line in sections.get("Caused by", []) if line.strip())
    status = " ".join(sections.get("Command exit status", [])).strip()
    exit_code = int(status) if re.fullmatch(r"-?\d+", status) else None
    said = _said(sections.get("Command error")) or _said(sections.get("Command output"))
    head = cause or (f"Process `{name}` failed" +
                     (f" with exit status {exit_code}" if exit_code is not None else ""))
    return Failure(reason="\n".join([head, *said[-STDERR_LINES:]]),
                   process=split_name(name)[0], exit_code=exit_code)


def failure_of_run(*outputs: str, exit_status: int, logs_hint: str) -> Failure:
    """The reason from the first of `outputs` (the runner's stdout, stderr, log, in the order
    the runner writes its report) that holds an error report; else the last lines any of them
    wrote; else what is known: the runner's exit status and where its output is."""
    for text in outputs:
        found = failure_from_report(text)
        if found:
            return found
    for text in outputs:
        tail = [line for line in text.splitlines() if line.strip()][-STDERR_LINES:]
        if tail:
            return Failure(reason="\n".join(tail))
    return Failure(reason=f"The pipeline runner exited with status {exit_status} and wrote no "
                          f"reason; see {logs_hint}.")


def _sections(lines: list[str]) -> dict[str, list[str]]:
    """The report's sections by header (the lines before the first header under ""), each
    line without the report's two-space indent; ends at the tip, or at the log's next record."""
    sections: dict[str, list[str]] = {"": []}
    current = ""
    for line in lines:
        if line.startswith(_END) or _LOG_LINE.match(line) or _ERROR.match(line):
            break
        header = _HEADER.match(line)
        if header:
            current = header.group("header")
            sections[current] = []
            continue
        sections[current].append(line[2:] if line.startswith("  ") else line)
    return sections


def _said(lines: list[str] | None) -> list[str]:
    said = [line.rstrip() for line in lines or [] if line.strip()]
    return [] if said == ["(empty)"] else said
