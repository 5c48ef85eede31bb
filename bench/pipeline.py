"""Pipeline benchmark: one dataset through the portal vs the bare pipeline, in one run.

    .venv/bin/python -m bench.pipeline [--depth 300]

Bare: `nextflow/bin/run-local` on local files. Portal: the same sample uploaded and verified,
then submitted; timed from the submit request to the job's "succeeded" (queue pick-up, staging
and checking inputs from S3, the same run, publishing and verifying every output). Goal: ratio
portal/bare <= 1.2. Results are printed and written to bench/out/pipeline.json.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

from bench.portal_server import BenchPortal, HttpPortal

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(__file__).resolve().parent / "out"


def run_bare(data: Path, work: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, str(ROOT / "nextflow/bin/run-local"), "--sample", "BENCH",
                    "--r1", str(data / "BENCH_R1.fastq.gz"), "--r2", str(data / "BENCH_R2.fastq.gz"),
                    "--reference", str(data / "ref.fa"), "--targets", str(data / "targets.bed"),
                    "--annotation", str(data / "genes.gff3"), "--outdir", str(work / "out"),
                    "--work-dir", str(work / "work")], check=True, capture_output=True)
    return time.perf_counter() - started


def wait_for_text(http: HttpPortal, url: str, pattern: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page = http.http.get(http.base_url + url).text
        found = re.search(pattern, page)
        if found:
            return found.group(0)
        time.sleep(0.25)
    raise RuntimeError(f"{url} never showed {pattern!r}")


def main() -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--depth", type=int, default=300, help="mean depth over targets")
    args = parser.parse_args()
    from tests.upload_client import DirectUploader, sample_fields

    portal = BenchPortal()
    try:
        data = portal.work_dir / "data"
        subprocess.run([sys.executable, str(ROOT / "nextflow/testdata/make_testdata.py"),
                        str(data), "--sample", "BENCH", "--depth", str(args.depth)], check=True,
                       capture_output=True)
        bare = run_bare(data, portal.work_dir / "bare")

        credentials = portal.start()
        reference = portal.work_dir / "reference"
        reference.mkdir()
        for name in ("ref.fa", "targets.bed", "genes.gff3"):
            (reference / name).write_bytes((data / name).read_bytes())
        portal.manage("load_reference", "bench-ref", str(reference))
        portal.start_worker()
        http = HttpPortal(portal.url, *credentials["clinician"])
        created = DirectUploader(http, "demo").upload_sample(
            sample_fields("BENCH"), data / "BENCH_R1.fastq.gz", data / "BENCH_R2.fastq.gz")
        sample_url = created["sample"]["url"]
        wait_for_text(http, sample_url, r'data-sample-status="ready"', 300)

        started = time.perf_counter()
        response = http.http.post(portal.url + sample_url + "submit/", headers={
            "X-CSRFToken": http.http.cookies["csrftoken"], "Referer": portal.url + "/"})
        response.raise_for_status()
        job_url = wait_for_text(http, sample_url, r"/labs/demo/jobs/[0-9a-f-]+/", 30)
        status = wait_for_text(http, job_url, r'data-job-status="(succeeded|failed)"', 900)
        through_portal = time.perf_counter() - started
        if "failed" in status:
            raise RuntimeError("the job failed; see " + str(portal.work_dir / "worker.log"))
        results = {"depth": args.depth,
                   "input_bytes": sum((data / f"BENCH_R{r}.fastq.gz").stat().st_size
                                      for r in (1, 2)),
                   "bare_seconds": round(bare, 2), "portal_seconds": round(through_portal, 2),
                   "ratio_portal_vs_bare": round(through_portal / bare, 3)}
    finally:
        portal.stop()
    OUT.mkdir(exist_ok=True)
    (OUT / "pipeline.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
