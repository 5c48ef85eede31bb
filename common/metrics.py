"""What the portal measures for Prometheus: the names, and the counters each process keeps.

Two kinds of figures (docs/operations.md, "Metrics and alerts"):

- **Per process**: requests and their latency by view. Kept by
  prometheus_client in this process; with `PROMETHEUS_MULTIPROC_DIR` set (before this module is
  first imported) every gunicorn and qcluster process writes them to a file there, and `/metrics`
  adds up all the files.
- **Recorded in the database**: bytes uploaded and downloaded, verification failures, lease
  takeovers, finished jobs, pipeline step durations, S3 errors. Web and worker processes on any
  machine add to one row per series (`storage.metric_records`); `/metrics` reads them at scrape
  time, so they are right whichever process answers the scrape and survive restarts. (S3 errors
  happen most in the workers, which no scrape of the web processes reaches per process.)

`RECORDED` declares the second kind: its keys are what the recording calls name, and a call
naming anything else fails (a misspelt metric is a bug, not a new series).
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import Counter, Histogram

# Request latency: from a static redirect (ms) to a slow report page (seconds).
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Pipeline steps: seconds on the test exome, hours on a real one.
STEP_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 28800, 86400)

HTTP_REQUESTS = Counter(
    "wes_http_requests", "Requests answered, by view (URL name), method and status code.",
    ["view", "method", "status"])
HTTP_LATENCY = Histogram(
    "wes_http_request_duration_seconds", "Time to answer a request, by view (URL name).",
    ["view", "method"], buckets=REQUEST_BUCKETS)


@dataclass(frozen=True)
class Recorded:
    metric: str                 # the Prometheus family name
    help: str
    labels: tuple[str, ...] = ()
    known: tuple[tuple[str, ...], ...] = ((),)   # label values shown (at 0) before any count
    kind: str = "counter"       # or "histogram" (then buckets are STEP_BUCKETS)


RECORDED = {
    "upload_bytes": Recorded(
        "wes_upload_bytes", "Bytes of FASTQ files uploaded into the raw-data bucket (their size "
        "in storage when the upload completed), by how they came: multipart (browser, API, CLI) "
        "or form.", ("via",), (("multipart",), ("form",))),
    "download_bytes": Recorded(
        "wes_download_bytes", "Bytes of files whose download URL was issued (audited), by what "
        "was downloaded: job_output or report.", ("kind",), (("job_output",), ("report",))),
    "verification_failures": Recorded(
        "wes_verification_failures", "Samples rejected by verification, by cause: size (the "
        "object in storage is not the size declared), checksum (SHA-256 differs from the "
        "browser's), fastq (not a valid gzip FASTQ pair), duplicate (reads of another sample).",
        ("cause",), (("size",), ("checksum",), ("fastq",), ("duplicate",))),
    "lease_takeovers": Recorded(
        "wes_lease_takeovers", "Runs taken over by a worker after the lease of the worker "
        "running them ran out (that worker died or lost the database)."),
    "jobs_finished": Recorded(
        "wes_jobs_finished", "Pipeline runs that ended, by outcome: succeeded, failed (including "
        "runs the reaper gave up on).", ("outcome",), (("succeeded",), ("failed",))),
    "s3_errors": Recorded(
        "wes_s3_errors", "S3 calls that failed, in any web or worker process, by S3 operation and "
        "error code (Unreachable and Timeout when the server did not answer).",
        ("operation", "code"), ()),
    "pipeline_step_duration_seconds": Recorded(
        "wes_pipeline_step_duration_seconds", "Run time of each pipeline step that completed "
        "(from the run's trace), counted when the run ends; steps reused by -resume are not "
        "counted again.", ("step",), (), kind="histogram"),
}
