"""Pipeline benchmark: one dataset through the portal vs the bare pipeline, in one run.

    .venv/bin/python -m bench.pipeline [--depth 300]

Bare: `nextflow/bin/run-local` on local files, with the bundle's index and snpEff database as
`load_reference` built them (as the portal's worker gets them). Portal: the same sample uploaded
and verified, then submitted; timed from the submit request to the job's "succeeded" (queue
pick-up, staging and checking inputs from S3, the same run, publishing and verifying every
output). Goal: ratio portal/bare <= 1.2. Results are printed and written to
bench/out/pipeline.json.
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


def bundle_args(reference: Path) -> list[str]:
    """The bundle's pipeline parameters as the portal's runner gives them (jobs/runs/runner.py),
    for a bundle loaded with its built files beside it (`--scratch` = the bundle's folder)."""
    data = json.loads((reference / "bundle.json").read_text())
    args = ["--reference", str(reference / data["reference"]),
            "--targets", str(reference / data["targets"]),
            "--annotation", str(reference / data["annotation"]),
            "--snpeff_db", str(reference / "snpEffectPredictor.bin")]
    if "canonical_transcripts" in data:
        args += ["--canonical", str(reference / data["canonical_transcripts"])]
    for name in ("gnomad", "clinvar"):
        if name in data.get("sources", {}):
            source = data["sources"][name]
            args += [f"--{name}", str(reference / source["file"]),
                     f"--{name}_version", source["version"]]
    return args


def run_bare(data: Path, reference: Path, work: Path) -> float:
    """The same run on local files, with the same bundle: the index and snpEff database that
    load_reference built, as the portal's worker gets them."""
    started = time.perf_counter()
    subprocess.run([sys.executable, str(ROOT / "nextflow/bin/run-local"), "--sample", "BENCH",
                    "--r1", str(data / "BENCH_R1.fastq.gz"), "--r2", str(data / "BENCH_R2.fastq.gz"),
                    *bundle_args(reference), "--outdir", str(work / "out"),
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
    from tests.reference_bundle import copy_bundle
    from tests.upload_client import DirectUploader, sample_fields

    portal = BenchPortal()
    try:
        data = portal.work_dir / "data"
        subprocess.run([sys.executable, str(ROOT / "nextflow/testdata/make_testdata.py"),
                        str(data), "--sample", "BENCH", "--depth", str(args.depth)], check=True,
                       capture_output=True)
        credentials = portal.start()
        reference = copy_bundle(data, portal.work_dir / "reference")
        # Built files beside the bundle's, where the bare run finds them too.
        portal.manage("load_reference", "bench-ref", str(reference), "--scratch", str(reference))
        bare = run_bare(data, reference, portal.work_dir / "bare")   # before the worker starts
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
