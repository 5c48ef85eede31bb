"""A real portal for benchmarks: SeaweedFS, a fresh database, migrations, buckets, a demo lab, and
`runserver --noreload` (one process, so its peak memory can be read from /proc)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import requests

from storage.seaweed import SeaweedServer, free_port

# A bench's portal runs as production does (DJANGO_DEBUG off, which refuses development secrets),
# but on plain HTTP on loopback: no redirect to HTTPS, no HSTS, cookies without the Secure flag.
PRODUCTION_ON_LOOPBACK = {
    "DJANGO_DEBUG": "false", "DJANGO_SECURE_COOKIES": "false", "DJANGO_SSL_REDIRECT": "false",
    "DJANGO_HSTS_SECONDS": "0",
    "WES_AUDIT_KEYS": "bench:bench-only-audit-chain-key-not-for-production",
}

ROOT = Path(__file__).resolve().parents[1]
ACCESS_KEY, SECRET_KEY = "wes-bench-access", "wes-bench-secret-key"


class BenchPortal:
    def __init__(self, work_dir: Path | None = None):
        self.work_dir = Path(work_dir or tempfile.mkdtemp(prefix="wes-bench-"))
        self.s3 = SeaweedServer(self.work_dir / "seaweedfs", ACCESS_KEY, SECRET_KEY)
        self.port = free_port()
        self.server: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
        env.update(PRODUCTION_ON_LOOPBACK)
        env.update(DJANGO_SECRET_KEY="bench-secret",
                   WES_VAR_DIR=str(self.work_dir), MINIO_ENDPOINT=self.s3.endpoint,
                   MINIO_PUBLIC_ENDPOINT=self.s3.endpoint, MINIO_ACCESS_KEY=ACCESS_KEY,
                   MINIO_SECRET_KEY=SECRET_KEY, WES_UPLOAD_ORIGINS=self.url,
                   FILE_UPLOAD_TEMP_DIR=str(self.work_dir), TMPDIR=str(self.work_dir),
                   WES_LOG_LEVEL="WARNING", WES_WORK_DIR=str(self.work_dir / "jobs"),
                   WES_PIPELINE_RUNNER="local", WES_REFERENCE_BUILD="bench-ref")
        return env

    def manage(self, *args: str) -> str:
        result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env(),
                                capture_output=True, text=True)
        if result.returncode:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr}")
        return result.stdout

    def start(self) -> dict[str, tuple[str, str]]:
        self.s3.start()
        self.manage("migrate", "--no-input", "-v", "0")
        self.manage("createcachetable")
        self.manage("setup_storage")
        seeded = self.manage("seed_demo")
        credentials = {role: (email, password) for role, email, password in re.findall(
            r"^\s+(clinician|manager|staff)\s+(\S+)\s+(\S+)$", seeded, re.M)}
        self.server = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{self.port}"],
            cwd=ROOT, env=self.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.url + "/accounts/login/", timeout=2)
                return credentials
            except OSError:
                time.sleep(0.3)
        raise RuntimeError("the portal did not start")

    def start_worker(self, **env) -> subprocess.Popen:
        self.worker = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"], cwd=ROOT, env={**self.env(), **env},
            stdout=open(self.work_dir / "worker.log", "ab"), stderr=subprocess.STDOUT,
            start_new_session=True)
        return self.worker

    def peak_rss_bytes(self) -> int:
        status = Path(f"/proc/{self.server.pid}/status").read_text()
        return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) * 1024

    def stop(self) -> None:
        for process in (self.server, self.worker):
            if process and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)  # the process and its children
                    process.wait()
        self.s3.stop()


class HttpPortal:
    """The upload client's view of a running portal over HTTP, signed in with a session."""

    def __init__(self, base_url: str, email: str, password: str):
        self.base_url = base_url
        self.http = requests.Session()
        self.http.get(base_url + "/accounts/login/")
        response = self.http.post(base_url + "/accounts/login/", data={
            "login": email, "password": password,
            "csrfmiddlewaretoken": self.http.cookies["csrftoken"]},
            headers={"Referer": base_url + "/accounts/login/"}, allow_redirects=False)
        if response.status_code != 302:
            raise RuntimeError(f"sign-in failed ({response.status_code})")

    def _headers(self) -> dict:
        return {"X-CSRFToken": self.http.cookies["csrftoken"], "Referer": self.base_url + "/",
                "Accept": "application/json"}

    @staticmethod
    def _answer(response):
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, {"raw": response.text[:500]}

    def post_form(self, url, data):
        return self._answer(self.http.post(self.base_url + url, data=data, headers=self._headers()))

    def post_json(self, url, data):
        return self._answer(self.http.post(self.base_url + url, json=data, headers=self._headers()))

    def get_json(self, url):
        return self._answer(self.http.get(self.base_url + url, headers=self._headers()))

    def delete_json(self, url):
        return self._answer(self.http.delete(self.base_url + url, headers=self._headers()))
