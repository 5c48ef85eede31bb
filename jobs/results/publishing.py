"""Publishing a finished run: every file the pipeline left goes to its bucket and is checked there
(size and SHA-256), then recorded (JobOutput rows, the object ledger, the run's compute from its
trace) in one transaction; QC figures, per-gene coverage and the variant table are loaded for the pages and the
report. The runner calls `job_outputs_publish` before it marks the job succeeded
(jobs/runs/runner.py), so a succeeded job always has its outputs.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from jobs.models import Job, JobOutput, JobUsage
from jobs.results.coverage import load_gene_coverage
from jobs.results.qc import qc_fail_limits, qc_verdict, read_qc_summary
from jobs.results.variant_table import load_variants
from jobs.results.variants import variant_table_summary
from jobs.runs.runner import PublishError
from jobs.runs.trace import compute_totals
from storage import keys, ledger, s3
from storage.buckets import bucket_name
from storage.checksums import sha256_file

RESULTS = {"vcf", "metadata.json"}          # published paths that go to the results bucket
PUBLISH_THREADS = 4
METADATA_KEYS = ("tools", "parameters", "reference", "inputs", "outputs", "runner")


def job_outputs_publish(job: Job, out_dir: Path) -> None:
    """Publish and load everything a succeeded run left in `out_dir`. Safe to run again after a
    retry: an object already stored with the same digest is not sent again, rows are replaced."""
    metadata = _check_metadata(out_dir)
    files = sorted(p for p in out_dir.rglob("*") if p.is_file())
    with ThreadPoolExecutor(PUBLISH_THREADS) as pool:
        published = list(pool.map(lambda path: _publish_one(job, out_dir, path), files))
    outputs_record(job=job, published=published,
                   trace_path=out_dir / "pipeline_info" / "trace.txt")
    _load_results(job, out_dir, parameters=metadata.get("parameters")
                  if isinstance(metadata, dict) else None)


def outputs_record(*, job: Job, published: list[tuple[str, str, str, int, str]],
                   trace_path: Path) -> None:
    """Record published outputs, each (relative path, bucket role, key, size, sha256), in one
    transaction: their JobOutput rows, the object ledger, and the run's compute from its trace
    (`JobUsage`). Safe to run again for the same job: rows are replaced, nothing counted twice."""
    with transaction.atomic():
        now = timezone.now()
        for relative, role, key, size, digest in published:
            JobOutput.objects.update_or_create(
                job=job, path=relative,
                defaults={"lab": job.lab, "bucket_role": role, "key": key, "size": size,
                          "sha256": digest, "verified_at": now})
            ledger.record_put(bucket=bucket_name(role), key=key, size=size, lab=job.lab,
                              job_id=job.pk, sha256=digest)
        cpu, realtime, tasks = compute_totals(trace_path)
        JobUsage.objects.update_or_create(
            job=job, defaults={"lab": job.lab, "cpu_seconds": cpu, "realtime_seconds": realtime,
                               "tasks": tasks, "recorded_at": now})


def _load_results(job: Job, out_dir: Path, *, parameters: dict | None = None) -> None:
    """QC figures (with the run's failure limits, from its `parameters`) and their verdict onto
    the job, and the variant table into the database (the files themselves are already
    published)."""
    name = job.sample.name
    qc_path = out_dir / "qc" / f"{name}.qc.json"
    coverage = out_dir / "qc" / f"{name}.gene_coverage.tsv"
    table = out_dir / f"{name}_Final_.txt"
    try:
        qc = read_qc_summary(qc_path) if qc_path.exists() else {}
        if qc:
            qc["fail_limits"] = qc_fail_limits(parameters if isinstance(parameters, dict)
                                               else None)
        with table.open(encoding="utf-8") as lines, transaction.atomic():
            load_variants(job=job, lines=lines)
            Job.objects.filter(pk=job.pk).update(qc=qc, qc_verdict=qc_verdict(qc))
            if coverage.exists():
                with coverage.open(encoding="utf-8") as rows:
                    load_gene_coverage(job=job, lines=rows)
            # The first reviewer to open the table should not wait for its summary.
            transaction.on_commit(lambda: variant_table_summary(job=job), robust=True)
    except (OSError, ValueError) as exc:
        raise PublishError("loading results", str(exc)) from exc


def _publish_one(job: Job, out_dir: Path, path: Path) -> tuple[str, str, str, int, str]:
    """One output to its bucket (skipped when already there, as after a retry), checked."""
    relative = path.relative_to(out_dir).as_posix()
    top = relative.split("/", 1)[0]
    if top == "pipeline_info":
        role, key = "logs", keys.log_key(job.submitted_at.date(), job.pk, path.name)
    else:
        role = "results" if top in RESULTS or relative.endswith("_Final_.txt") \
            else "intermediate"
        key = keys.job_output_key(job.lab, job.pk, relative)
    digest, size = sha256_file(path), path.stat().st_size
    bucket = bucket_name(role)
    existing = s3.object_info(bucket, key)
    if existing is None or existing["metadata"].get("sha256") != digest:
        s3.upload_path(bucket, key, path, metadata={"sha256": digest}, encrypt=role != "logs")
        existing = s3.object_info(bucket, key)
    if existing is None or existing["size"] != size or \
            existing["metadata"].get("sha256") != digest:
        raise s3.StorageError(f"{relative} did not arrive intact in {bucket}")
    return relative, role, key, size, digest


def _check_metadata(out_dir: Path) -> dict:
    path = out_dir / "metadata.json"
    try:
        metadata = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise PublishError("publishing outputs",
                           f"metadata.json is missing or not JSON: {exc}") from exc
    missing = [k for k in METADATA_KEYS if k not in metadata]
    if missing:
        raise PublishError("publishing outputs", f"metadata.json lacks {', '.join(missing)}")
    return metadata
