"""`python -m portal.devstack`: the whole portal on one machine with embedded defaults.

Starts SeaweedFS, migrates the SQLite database, provisions the buckets, seeds the demo lab, then
runs the django-q2 worker and the development server until Ctrl-C, which stops all of them. It
imports no Django settings itself: storage must be running, and its address in the environment,
before Django reads its configuration.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from portal.dev_defaults import DEV_STORAGE_ACCESS_KEY, DEV_STORAGE_SECRET_KEY
from storage.seaweed import SeaweedError, SeaweedServer

BASE_DIR = Path(__file__).resolve().parent.parent
MANAGE = [sys.executable, str(BASE_DIR / "manage.py")]


def dev_environment(var_dir: Path, s3_endpoint: str) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("DJANGO_DEBUG", "true")
    env.setdefault("WES_VAR_DIR", str(var_dir))
    env.setdefault("WES_REFERENCE_BUILD", "wes-mini")
    env["MINIO_ENDPOINT"] = s3_endpoint
    env.setdefault("MINIO_PUBLIC_ENDPOINT", s3_endpoint)
    env.setdefault("PYTHONUNBUFFERED", "1")
    # The development audit key comes from portal/dev_defaults.py; checkpoints are retained in
    # GOVERNANCE mode for a week, so a developer's local storage can still be cleaned up.
    env.setdefault("WES_AUDIT_CHECKPOINT_LOCK_MODE", "GOVERNANCE")
    env.setdefault("WES_AUDIT_CHECKPOINT_RETENTION_DAYS", "7")
    return env


def upload_origins(port: int) -> str:
    return f"http://127.0.0.1:{port},http://localhost:{port}"


def prepare_demo_data(var_dir: Path) -> Path:
    """A small simulated exome (the reference bundle with its bundle.json, and reads), made once
    (again for a folder made before bundle.json)."""
    target = var_dir / "demo-data"
    if not (target / "bundle.json").exists():
        print("==> generating the demo exome data", flush=True)
        subprocess.run([sys.executable, str(BASE_DIR / "nextflow/testdata/make_testdata.py"),
                        str(target), "--sample", "DEMO1"], check=True, stdout=subprocess.DEVNULL)
    return target


def run_step(title: str, args: list[str], env: dict[str, str]) -> None:
    print(f"==> {title}", flush=True)
    result = subprocess.run(MANAGE + args, env=env, cwd=BASE_DIR)
    if result.returncode != 0:
        raise SystemExit(f"`manage.py {' '.join(args)}` failed with exit code {result.returncode}")


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main() -> int:
    # A terminal's Ctrl-C sends SIGINT; a supervisor or `timeout` sends SIGTERM or SIGHUP. All of
    # them must stop what this launcher started (its children run in their own sessions). A shell
    # that starts a job with `&` hands it SIGINT already ignored, so install the handler outright.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    var_dir = Path(os.environ.get("WES_VAR_DIR", BASE_DIR / "var")).resolve()
    port = int(os.environ.get("WES_DEV_PORT", "8000"))
    s3_port = int(os.environ.get("WES_DEV_S3_PORT", "8333"))
    access_key = os.environ.get("MINIO_ACCESS_KEY", DEV_STORAGE_ACCESS_KEY)
    secret_key = os.environ.get("MINIO_SECRET_KEY", DEV_STORAGE_SECRET_KEY)
    server = SeaweedServer(var_dir / "seaweedfs", access_key, secret_key, s3_port=s3_port)
    print(f"==> starting SeaweedFS (S3 on 127.0.0.1:{s3_port}, data in {server.data_dir})",
          flush=True)
    try:
        server.start()
    except SeaweedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    children: list[tuple[subprocess.Popen, bool]] = []
    env = dev_environment(var_dir, server.endpoint)
    env.setdefault("WES_UPLOAD_ORIGINS", upload_origins(port))
    env.setdefault("WES_PUBLIC_URL", f"http://127.0.0.1:{port}/")  # links in emails
    try:
        run_step("migrating the database", ["migrate", "--no-input", "-v", "0"], env)
        run_step("creating the cache table", ["createcachetable"], env)
        run_step("provisioning buckets", ["setup_storage"], env)
        demo_data = prepare_demo_data(var_dir)
        run_step("loading the demo reference genome", ["load_reference", "wes-mini",
                                                       str(demo_data)], env)
        run_step("seeding the demo lab", ["seed_demo", "--sample-from", str(demo_data)], env)
        print("==> starting the task worker and the web server; Ctrl-C stops everything",
              flush=True)
        # The cluster stops its own worker processes on SIGTERM; runserver's auto-reloader pair is
        # stopped as a process group.
        children.append((subprocess.Popen(MANAGE + ["qcluster"], env=env, cwd=BASE_DIR,
                                          start_new_session=True), False))
        children.append((subprocess.Popen(MANAGE + ["runserver", f"127.0.0.1:{port}"], env=env,
                                          cwd=BASE_DIR, start_new_session=True), True))
        print(f"\n    WES Portal: http://127.0.0.1:{port}/   admin: http://127.0.0.1:{port}/admin/\n",
              flush=True)
        while all(child.poll() is None for child, _group in children):
            time.sleep(0.5)
        print("a process stopped on its own; shutting down", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\n==> stopping", flush=True)
        return 0
    finally:
        for child, whole_group in children:
            _stop(child, whole_group)
        server.stop()


def _stop(child: subprocess.Popen, whole_group: bool) -> None:
    try:
        if whole_group:
            os.killpg(child.pid, signal.SIGTERM)
        elif child.poll() is None:
            child.send_signal(signal.SIGTERM)
        child.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    except ProcessLookupError:
        pass


if __name__ == "__main__":
    sys.exit(main())
