"""Backup and restore benchmark: the portal's verified backup and restore of N MiB against a bare
`rclone copy` of the same buckets (S3 to a directory, and back to another server).

    .venv/bin/python -m bench.backup [--mib 256] [--object-mib 8]
    .venv/bin/python -m bench.backup --small-objects 20000     # peak memory with many objects

Starts two SeaweedFS servers (the original and a fresh one) and works in a temporary database
(Django's test-database machinery on the PostgreSQL server at DATABASE_URL) plus a second,
empty one for the restore, so it never touches the portal's own data. It writes N MiB of random
objects (raw and results buckets, each with a ledger row and its SHA-256; one in four written
twice, so old versions count), then measures:

1. `backup` to a directory: dump, every version copied and hashed, the cross-check;
2. `rclone copy --checksum` of the same buckets to a directory (current versions only);
3. `restore` into the fresh server and database: pg_restore, every version written back in
   order, read back and hashed, verify_audit;
4. `rclone copy --checksum` of that directory to new buckets on the fresh server.

With `--small-objects N` it writes N objects of 1 KiB instead (one in four written twice),
skips the rclone copies, and measures the peak of Python's allocations (tracemalloc) during the
backup and during the restore: what grows with the number of objects, not with their size.

Results are printed and written to bench/out/backup.json.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from storage.seaweed import SeaweedServer

OUT = Path(__file__).resolve().parent / "out"
ACCESS_KEY, SECRET_KEY = "wes-bench-access", "wes-bench-secret-key"
MIB = 1024 * 1024


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def rclone_env(servers: dict[str, SeaweedServer]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
    for name, server in servers.items():
        for variable, value in {"TYPE": "s3", "PROVIDER": "Other", "ENDPOINT": server.endpoint,
                                "ACCESS_KEY_ID": ACCESS_KEY, "SECRET_ACCESS_KEY": SECRET_KEY,
                                "REGION": "us-east-1", "FORCE_PATH_STYLE": "true"}.items():
            env[f"RCLONE_CONFIG_{name.upper()}_{variable}"] = value
    return env


def timed_rclone(env: dict, *args: str) -> float:
    started = time.perf_counter()
    subprocess.run(["rclone", "copy", "--checksum", *args], env=env, check=True,
                   capture_output=True)
    return time.perf_counter() - started


def measured(results: dict, step: str, run) -> None:
    """Run `run()`, recording its seconds and, with tracemalloc on, its peak allocation."""
    if tracemalloc.is_tracing():
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
    started = time.perf_counter()
    run()
    results[f"{step}_seconds"] = round(time.perf_counter() - started, 2)
    if tracemalloc.is_tracing():
        results[f"{step}_peak_mib"] = round((tracemalloc.get_traced_memory()[1] - base) / MIB, 1)


def write_small_objects(count: int) -> int:
    """`count` objects of 1 KiB in the raw and results buckets, one in four with an older
    version, each with its ledger row and SHA-256; the bytes written."""
    from storage import s3
    from storage.buckets import bucket_name
    from storage.models import StoredObject

    def one(n: int) -> tuple[str, str, bytes, int]:
        role = "raw" if n % 2 else "results"
        key = f"bench/{n % 97:02}/{uuid.uuid4()}.bin"
        written = 0
        if n % 4 == 0:
            s3.put_bytes(bucket_name(role), key, os.urandom(512),
                         content_type="application/octet-stream")
            written += 512
        body = os.urandom(1024)
        s3.put_bytes(bucket_name(role), key, body, content_type="application/octet-stream")
        return bucket_name(role), key, body, written + len(body)

    with ThreadPoolExecutor(max_workers=8) as pool:
        made = list(pool.map(one, range(count)))
    StoredObject.objects.bulk_create(
        [StoredObject(bucket=bucket, key=key, size=len(body),
                      sha256=hashlib.sha256(body).hexdigest()) for bucket, key, body, _n in made],
        batch_size=5000)
    return sum(n for *_rest, n in made)


def main() -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--object-mib", type=int, default=8)
    parser.add_argument("--small-objects", type=int, default=0,
                        help="N objects of 1 KiB instead, and measure peak memory")
    parser.add_argument("--spool-run", type=int, default=0,
                        help="rows a spool sorts in memory (storage/backup/spool.py RUN and "
                             "objects.LISTING_RUN), to show memory follows it, not N")
    args = parser.parse_args()
    small = args.small_objects

    work = Path(tempfile.mkdtemp(prefix="wes-bench-backup-"))
    original = SeaweedServer(work / "original", ACCESS_KEY, SECRET_KEY).start()
    fresh = SeaweedServer(work / "fresh", ACCESS_KEY, SECRET_KEY).start()
    os.environ.update(DJANGO_SETTINGS_MODULE="portal.settings", DJANGO_DEBUG="true",
                      WES_VAR_DIR=str(work), MINIO_ENDPOINT=original.endpoint,
                      MINIO_PUBLIC_ENDPOINT=original.endpoint, MINIO_ACCESS_KEY=ACCESS_KEY,
                      MINIO_SECRET_KEY=SECRET_KEY, WES_LOG_LEVEL="WARNING")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connections
    from django.test.utils import override_settings, setup_databases, teardown_databases

    from storage import ledger, provisioning, s3
    from storage.backup.database import libpq_environment
    from storage.buckets import REGISTRY, bucket_name

    if args.spool_run:
        from storage.backup import objects, spool

        spool.RUN = objects.LISTING_RUN = args.spool_run
        results_note = {"spool_run": args.spool_run}
    else:
        results_note = {}
    settings.DEBUG = False
    old_config = setup_databases(verbosity=0, interactive=False)
    connection = connections["default"]
    test_db = connection.settings_dict["NAME"]
    restore_db = f"{test_db}_restore_{uuid.uuid4().hex[:6]}"
    pg_env = libpq_environment(connection.settings_dict)
    subprocess.run(["createdb", restore_db], env=pg_env, check=True)
    env = rclone_env({"original": original, "fresh": fresh})
    results: dict = ({"small_objects": small, **results_note} if small else
                     {"mib": args.mib, "object_mib": args.object_mib})
    try:
        provisioning.apply()
        if small:
            progress(f"writing {small} objects of 1 KiB")
            results["bytes_stored"] = write_small_objects(small)
            tracemalloc.start()
            progress("backup (tracemalloc on)")
            measured(results, "backup", lambda: call_command("backup", str(work / "sets"),
                                                             stdout=io.StringIO()))
            progress("restore into the fresh server and database (tracemalloc on)")
            connection.close()
            connection.settings_dict["NAME"] = restore_db
            out = io.StringIO()
            with override_settings(MINIO_ENDPOINT=fresh.endpoint,
                                   MINIO_PUBLIC_ENDPOINT=fresh.endpoint):
                measured(results, "restore", lambda: call_command("restore", str(work / "sets"),
                                                                  stdout=out))
            tracemalloc.stop()
            results["restore_report"] = out.getvalue().strip().splitlines()[-1]
            connection.close()
            connection.settings_dict["NAME"] = test_db
        else:
            count = max(1, args.mib // args.object_mib)
            progress(f"writing {count} objects of {args.object_mib} MiB")
            written = 0
            for n in range(count):
                role = "raw" if n % 2 else "results"
                key = f"bench/{uuid.uuid4()}/object-{n:04}.bin"
                if n % 4 == 0:        # an older version too
                    s3.put_bytes(bucket_name(role), key, os.urandom(MIB),
                                 content_type="application/octet-stream")
                    written += MIB
                body = os.urandom(args.object_mib * MIB)
                s3.put_bytes(bucket_name(role), key, body, content_type="application/octet-stream")
                ledger.record_put(bucket=bucket_name(role), key=key, size=len(body),
                                  sha256=hashlib.sha256(body).hexdigest())
                written += len(body)
            results["bytes_stored"] = written

            progress("backup")
            started = time.perf_counter()
            call_command("backup", str(work / "sets"), stdout=io.StringIO())
            results["backup_seconds"] = round(time.perf_counter() - started, 2)

            progress("rclone copy, S3 to a directory")
            results["rclone_copy_out_seconds"] = round(sum(
                timed_rclone(env, f"original:{rule.name}", str(work / "rclone" / rule.name))
                for rule in REGISTRY), 2)

            progress("restore into the fresh server and database")
            connection.close()
            connection.settings_dict["NAME"] = restore_db
            with override_settings(MINIO_ENDPOINT=fresh.endpoint, MINIO_PUBLIC_ENDPOINT=fresh.endpoint):
                started = time.perf_counter()
                out = io.StringIO()
                call_command("restore", str(work / "sets"), stdout=out)
                results["restore_seconds"] = round(time.perf_counter() - started, 2)
                results["restore_report"] = out.getvalue().strip().splitlines()[-1]
            connection.close()
            connection.settings_dict["NAME"] = test_db

            progress("rclone copy, a directory to new buckets on the fresh server")
            results["rclone_copy_in_seconds"] = round(sum(
                timed_rclone(env, str(work / "rclone" / rule.name), f"fresh:copy-{rule.name}")
                for rule in REGISTRY if (work / "rclone" / rule.name).is_dir()), 2)
            results["backup_vs_rclone"] = round(
                results["backup_seconds"] / results["rclone_copy_out_seconds"], 2)
            results["restore_vs_rclone"] = round(
                results["restore_seconds"] / results["rclone_copy_in_seconds"], 2)
    finally:
        connection.close()
        connection.settings_dict["NAME"] = test_db
        subprocess.run(["dropdb", "--if-exists", "--force", restore_db], env=pg_env)
        teardown_databases(old_config, verbosity=0)
        original.stop()
        fresh.stop()
        shutil.rmtree(work, ignore_errors=True)
    OUT.mkdir(exist_ok=True)
    (OUT / "backup.json").write_text(json.dumps(results, indent=2))
    if small:
        print(f"{small} objects of 1 KiB: backup {results['backup_seconds']} s, peak "
              f"{results['backup_peak_mib']} MiB allocated; restore {results['restore_seconds']} s, "
              f"peak {results['restore_peak_mib']} MiB (tracemalloc, which slows both)")
        return results
    mib = results["bytes_stored"] / MIB
    print(f"{mib:.0f} MiB stored (old versions included)")
    print(f"backup:  {results['backup_seconds']} s; rclone copy out {results['rclone_copy_out_seconds']}"
          f" s (current versions only); ratio {results['backup_vs_rclone']}x")
    print(f"restore: {results['restore_seconds']} s (with read-back and verify_audit); rclone copy "
          f"in {results['rclone_copy_in_seconds']} s; ratio {results['restore_vs_rclone']}x")
    return results


if __name__ == "__main__":
    main()
