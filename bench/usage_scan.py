"""Usage and reconciliation benchmark: 100,000 objects under 50 labs, in one run.

    .venv/bin/python -m bench.usage_scan [--objects 100000] [--labs 50] [--repeat 3]

Starts its own SeaweedFS (`weed mini`, loopback) and works in a temporary database (Django's
test-database machinery: `test_<name>_<pid>` on the PostgreSQL server at DATABASE_URL, SQLite when
it is unset), so it never touches the portal's own data. It writes the objects as the portal lays
them out (per lab and job: 2 raw FASTQ, 8 intermediate, 6 results, 4 logs; tiny bodies, 32
threads) with a matching ledger row each, then measures:

1. the usage report of the month from the ledger (goal: under 200 ms);
2. the reconciliation scan (`storage_reconcile`: list, compare, snapshot) against a bare
   ListObjectsV2 loop with raw boto3 over exactly the same prefixes (goal: <= 1.2x);
3. one HEAD per object, as the seed's dashboard did (goal: the scan >= 10x faster).

Scan and bare loop alternate `--repeat` times and the best of each is compared, because the
machine is shared. Results are printed and written to bench/out/usage_scan.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from storage.seaweed import SeaweedServer

OUT = Path(__file__).resolve().parent / "out"
ACCESS_KEY, SECRET_KEY = "wes-bench-access", "wes-bench-secret-key"
LAYOUT = {  # objects per job, by bucket role, as a WES job leaves them
    "raw": ["S_R1.fastq.gz", "S_R2.fastq.gz"],
    "intermediate": ["bam/S.bam", "bam/S.bam.bai", "bam/S.markdup.bam", "bam/S.markdup.bam.bai",
                     "vcf/S.raw.vcf.gz", "vcf/S.raw.vcf.gz.tbi", "qc/S.fastp.json",
                     "qc/S.flagstat.txt"],
    "results": ["S_Final_.txt", "vcf/S.vcf.gz", "vcf/S.vcf.gz.tbi", "metadata.json",
                "report/S_report_v1_draft.pdf", "qc/S.qc.json"],
    "logs": ["trace.txt", "report.html", "timeline.html", "stderr.txt"],
}
PER_JOB = sum(len(names) for names in LAYOUT.values())


def boto3_client(endpoint: str):
    import boto3  # the baselines are raw boto3 on purpose, not the portal's storage module
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=ACCESS_KEY,
                        aws_secret_access_key=SECRET_KEY, region_name="us-east-1",
                        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                                      max_pool_connections=64))


def plan_objects(labs: list, jobs_per_lab: int) -> list[tuple]:
    """(role, key, size, lab, job id) for every object, keys from storage.keys."""
    from django.utils import timezone

    from storage import keys

    today = timezone.localdate()
    objects = []
    for lab in labs:
        for j in range(jobs_per_lab):
            job_id = uuid.uuid4()
            for role, names in LAYOUT.items():
                for n, name in enumerate(names):
                    if role == "logs":
                        key = keys.log_key(today, job_id, name)
                    elif role == "raw":
                        key = keys.raw_fastq_key(lab, job_id, "S", n + 1)
                    else:
                        key = keys.job_output_key(lab, job_id, name)
                    objects.append((role, key, 16 + (j * 7 + n * 13) % 1000, lab, job_id))
    return objects


def write_objects(endpoint: str, objects: list[tuple]) -> float:
    from storage.buckets import bucket_name
    from storage.models import StoredObject

    client = boto3_client(endpoint)
    names = {role: bucket_name(role) for role in LAYOUT}

    def put(obj):
        role, key, size, _lab, _job = obj
        client.put_object(Bucket=names[role], Key=key, Body=b"w" * size)

    started = time.perf_counter()
    with ThreadPoolExecutor(32) as pool:
        for _ in pool.map(put, objects, chunksize=64):
            pass
    rows = (StoredObject(bucket=names[role], key=key, size=size, lab=lab, job_id=job_id)
            for role, key, size, lab, job_id in objects)
    StoredObject.objects.bulk_create(rows, batch_size=5000)
    return time.perf_counter() - started


def bare_list_seconds(endpoint: str, labs: list) -> tuple[float, int, int]:
    """The same ListObjectsV2 requests the scan makes, with nothing done with the answers."""
    from storage import keys
    from storage.buckets import REGISTRY
    from jobs.records.reconciliation import LAB_PREFIXED

    client = boto3_client(endpoint)
    paginator = client.get_paginator("list_objects_v2")
    requests = objects = 0
    started = time.perf_counter()
    for rule in REGISTRY:
        listings = [{"Prefix": keys.lab_prefix(lab)} for lab in labs] + [{"Delimiter": "/"}] \
            if rule.role in LAB_PREFIXED else [{}]
        for extra in listings:
            for page in paginator.paginate(Bucket=rule.name, PaginationConfig={"PageSize": 1000},
                                           **extra):
                requests += 1
                objects += len(page.get("Contents", ()))
    return time.perf_counter() - started, requests, objects


def head_each_seconds(endpoint: str, objects: list[tuple]) -> float:
    """One HEAD per object, one after another, as the seed's dashboard summed sizes."""
    from storage.buckets import bucket_name

    client = boto3_client(endpoint)
    names = {role: bucket_name(role) for role in LAYOUT}
    started = time.perf_counter()
    total = 0
    for role, key, _size, _lab, _job in objects:
        total += client.head_object(Bucket=names[role], Key=key)["ContentLength"]
    assert total == sum(obj[2] for obj in objects)
    return time.perf_counter() - started


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main() -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--labs", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    jobs_per_lab = max(1, args.objects // args.labs // PER_JOB)

    work = Path(tempfile.mkdtemp(prefix="wes-bench-usage-"))
    seaweed = SeaweedServer(work / "seaweedfs", ACCESS_KEY, SECRET_KEY)
    seaweed.start()
    os.environ.update(DJANGO_SETTINGS_MODULE="portal.settings", DJANGO_DEBUG="true",
                      WES_VAR_DIR=str(work), MINIO_ENDPOINT=seaweed.endpoint,
                      MINIO_PUBLIC_ENDPOINT=seaweed.endpoint, MINIO_ACCESS_KEY=ACCESS_KEY,
                      MINIO_SECRET_KEY=SECRET_KEY, WES_LOG_LEVEL="WARNING")
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.test.utils import setup_databases, teardown_databases
    from django.utils import timezone

    from storage import provisioning
    from jobs.records.reconciliation import storage_reconcile
    from jobs.records.usage import usage_report
    from tenants.services import lab_create

    settings.DEBUG = False        # DEBUG keeps every query's SQL, which would skew the timings
    old_config = setup_databases(verbosity=0, interactive=False)
    results: dict = {"database": connection.vendor, "labs": args.labs}
    try:
        provisioning.apply()
        labs = [lab_create(slug=f"bench-{n:02}", name=f"Bench lab {n:02}")
                for n in range(args.labs)]
        objects = plan_objects(labs, jobs_per_lab)
        results["objects"] = len(objects)
        progress(f"writing {len(objects):,} objects and their ledger rows")
        results["write_seconds"] = round(write_objects(seaweed.endpoint, objects), 1)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE wes_storage_storedobject")

        progress("usage report")
        # 1. The usage report of this month, from the database.
        month = timezone.localdate().replace(day=1)
        timings = []
        for _ in range(5):
            started = time.perf_counter()
            report = usage_report(month=month)
            timings.append(time.perf_counter() - started)
        assert report.totals.objects_stored == len(objects), report.totals.objects_stored
        assert len(report.rows) == args.labs
        results["report_ms_first"] = round(timings[0] * 1000, 1)
        results["report_ms_median"] = round(statistics.median(timings) * 1000, 1)
        results["report_goal_under_200ms"] = statistics.median(timings) < 0.2

        progress("reconciliation scan and bare listing")
        # 2. Reconciliation against the bare listing of the same prefixes, alternating.
        scans, bares = [], []
        for _ in range(args.repeat):
            started = time.perf_counter()
            run = storage_reconcile(trigger="bench")
            scans.append(time.perf_counter() - started)
            assert (run.status, run.objects_listed) == ("matches", len(objects)), \
                (run.status, run.error, run.objects_listed)
            seconds, requests, listed = bare_list_seconds(seaweed.endpoint, labs)
            bares.append(seconds)
            assert listed == len(objects) and requests == run.list_requests, \
                (listed, requests, run.list_requests)
        scan, bare = min(scans), min(bares)
        results.update(
            list_requests=run.list_requests, snapshots=run.snapshots.count(),
            scan_seconds=round(scan, 2), scan_seconds_all=[round(s, 2) for s in scans],
            bare_list_seconds=round(bare, 2), bare_list_seconds_all=[round(s, 2) for s in bares],
            scan_vs_bare_list=round(scan / bare, 3), scan_goal_within_1_2x=scan / bare <= 1.2)

        progress("one HEAD per object")
        # 3. One HEAD per object.
        head = head_each_seconds(seaweed.endpoint, objects)
        results.update(head_each_seconds=round(head, 1),
                       head_each_vs_scan=round(head / scan, 1),
                       head_each_vs_bare_list=round(head / bare, 1),
                       scan_goal_10x_faster_than_head=head / scan >= 10)
        results["peak_rss_mb"] = round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    finally:
        teardown_databases(old_config, verbosity=0)
        seaweed.stop()
    OUT.mkdir(exist_ok=True)
    (OUT / "usage_scan.json").write_text(json.dumps(results, indent=2))
    print(f"objects: {results['objects']:,} under {args.labs} labs ({results['database']})")
    print(f"usage report from the ledger: {results['report_ms_median']} ms median "
          f"(first {results['report_ms_first']} ms; goal < 200 ms)")
    print(f"reconciliation scan: {results['scan_seconds']} s; bare ListObjectsV2 loop: "
          f"{results['bare_list_seconds']} s; ratio {results['scan_vs_bare_list']}x "
          f"(goal <= 1.2x); {results['list_requests']} list requests")
    print(f"one HEAD per object: {results['head_each_seconds']} s = "
          f"{results['head_each_vs_scan']}x the scan (goal >= 10x), "
          f"{results['head_each_vs_bare_list']}x the bare listing")
    print(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
