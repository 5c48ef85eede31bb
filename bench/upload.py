"""Upload benchmark: the portal's paths against raw boto3, in one run, on the same S3 server.

    .venv/bin/python -m bench.upload [--direct-gib 1] [--form-gib 2] [--cli-gib 1] [--repeat 3]
                                     [--only direct,form,cli]

1. Direct path (what the browser does): ask the portal to sign each part, PUT the parts to S3
   (6 at a time, like the browser), complete (the portal checks every part against S3).
   Baseline: boto3 `upload_file` of the same file to the same server. Goal: ratio >= 0.9.
2. Plain form path (no JavaScript): a multipart POST streamed to the portal, which writes it to a
   temporary file and streams it on to S3 through django-storages. Reports the time ratio against
   the same boto3 baseline and the web process's peak memory (goal < 200 MB).
3. The command-line client (`wes upload`'s machinery, wes_cli/transfer.py, in this process: the
   API signs each part, the parts go to S3 `--parallel` at a time, SHA-256 computed while reading,
   complete). Baseline: boto3 `upload_file` with the same part size and the same concurrency.
   Goal: ratio >= 0.9.
Results are printed and written to bench/out/upload.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import uuid
from pathlib import Path

from bench.portal_server import ACCESS_KEY, SECRET_KEY, BenchPortal, HttpPortal

GIB = 1024**3
OUT = Path(__file__).resolve().parent / "out"


def boto3_upload_seconds(endpoint: str, bucket: str, path: Path, *, part_size: int | None = None,
                         concurrency: int | None = None) -> float:
    import boto3  # the baseline is raw boto3 on purpose, not the portal's storage module
    from boto3.s3.transfer import TransferConfig
    from botocore.config import Config

    client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=ACCESS_KEY,
                          aws_secret_access_key=SECRET_KEY, region_name="us-east-1",
                          config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))
    transfer = TransferConfig(multipart_chunksize=part_size or 8 * 1024**2,
                              max_concurrency=concurrency or 10)
    started = time.perf_counter()
    client.upload_file(str(path), bucket, f"bench/{uuid.uuid4()}/{path.name}", Config=transfer)
    return time.perf_counter() - started


CLI_PARALLEL = 6
TOKEN_FOR_CLINICIAN = """
from tenants.api_tokens import token_create
from tenants.models import Membership
membership = Membership.objects.get(lab__slug="demo", user__email={email!r})
print(token_create(membership=membership, name="bench", days=1, scope="upload")[1])
"""


def cli_upload(portal_url: str, token: str, name: str, big: Path, small: Path) -> dict:
    """`wes upload`'s own functions, timed from the first part to complete's answer."""
    from wes_cli.api import Api, retrying_session
    from wes_cli.samples import sample_body
    from wes_cli.transfer import FileUpload, upload_file

    api = Api(portal_url, token, "demo", pool_size=CLI_PARALLEL + 2)
    created = api.request("POST", api.lab_path("samples"), ok=(201,), json=sample_body(
        name, big, small, indication="Benchmark", consent=True))
    r1 = next(f for f in created["files"] if f["read"] == 1)
    outcome = upload_file(FileUpload(api, r1["id"]), big, parallel=CLI_PARALLEL,
                          put_session=retrying_session(CLI_PARALLEL))
    assert outcome.answer["file_status"] == "uploaded", outcome.answer
    return {"seconds": outcome.seconds, "part_size": outcome.part_size}


class MultipartBody:
    """A multipart/form-data body read from disk as it is sent (requests would build it in
    memory), with a known length so the server gets a Content-Length."""

    def __init__(self, fields: dict[str, str], files: dict[str, Path]):
        self.boundary = uuid.uuid4().hex
        self.pieces: list[bytes | Path] = []
        for name, value in fields.items():
            self.pieces.append(self._header(name) + b"\r\n\r\n" + value.encode() + b"\r\n")
        for name, path in files.items():
            self.pieces.append(self._header(name) + f'; filename="{path.name}"\r\n'.encode()
                               + b"Content-Type: application/gzip\r\n\r\n")
            self.pieces.append(path)
            self.pieces.append(b"\r\n")
        self.pieces.append(f"--{self.boundary}--\r\n".encode())
        self.length = sum(p.stat().st_size if isinstance(p, Path) else len(p) for p in self.pieces)
        self._current = None
        self._index = 0

    def _header(self, name: str) -> bytes:
        return f'--{self.boundary}\r\nContent-Disposition: form-data; name="{name}"'.encode()

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def __len__(self) -> int:
        return self.length

    def read(self, size: int = 1024 * 1024) -> bytes:
        while self._index < len(self.pieces):
            piece = self.pieces[self._index]
            if isinstance(piece, bytes):
                self._index += 1
                return piece
            if self._current is None:
                self._current = open(piece, "rb")
            chunk = self._current.read(size)
            if chunk:
                return chunk
            self._current.close()
            self._current = None
            self._index += 1
        return b""


def make_file(path: Path, size: int) -> Path:
    with open(path, "wb") as handle:
        for _ in range(size // (64 * 1024**2)):
            handle.write(os.urandom(64 * 1024**2))
        handle.write(os.urandom(size % (64 * 1024**2)))
    return path


def main() -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--direct-gib", type=float, default=1.0)
    parser.add_argument("--form-gib", type=float, default=2.0)
    parser.add_argument("--cli-gib", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default="direct,form,cli",
                        help="comma-separated sections to run")
    args = parser.parse_args()
    sections = set(args.only.split(","))
    # The CLI's calls (a signature per part) are well under the API's per-token limit, but the
    # repeats add up: the bench measures throughput, not the limit.
    os.environ.setdefault("WES_API_RATE_LIMIT", "100000/minute")

    portal = BenchPortal()
    results: dict = {}
    try:
        credentials = portal.start()
        email, password = credentials["clinician"]
        http = HttpPortal(portal.url, email, password)
        files = portal.work_dir / "files"
        files.mkdir()
        small = make_file(files / "tiny_R2.fastq.gz", 1024)

        if "direct" in sections:
            direct_path(args, portal, http, files, small, results)
        if "form" in sections:
            form_path(args, portal, http, files, small, results)
        if "cli" in sections:
            cli_path(args, portal, email, files, small, results)
    finally:
        portal.stop()
    OUT.mkdir(exist_ok=True)
    (OUT / "upload.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    return results


def direct_path(args, portal, http, files, small, results) -> None:
    """1. Direct path vs boto3, same file, same server; interleaved `--repeat` times and the
    median ratio reported, since a shared machine's load swings single runs by 2x."""
    from tests.upload_client import DirectUploader, sample_fields

    big = make_file(files / "direct_R1.fastq.gz", int(args.direct_gib * GIB))
    uploader = DirectUploader(http, "demo", concurrency=6)
    runs = []
    for attempt in range(args.repeat):
        baseline = boto3_upload_seconds(portal.s3.endpoint, "wes-raw-data", big)
        created = uploader.create_sample(sample_fields(f"BENCH1-{attempt}"), big, small)
        started = time.perf_counter()
        status, answer = uploader.upload(created["files"][0], big)
        direct = time.perf_counter() - started
        assert status == 200, answer
        runs.append({"portal_seconds": round(direct, 2), "boto3_seconds": round(baseline, 2),
                     "ratio": round(baseline / direct, 3)})
    results["direct"] = {"bytes": big.stat().st_size, "runs": runs,
                         "ratio_throughput_vs_boto3": statistics.median(r["ratio"] for r in runs)}
    big.unlink()


def form_path(args, portal, http, files, small, results) -> None:
    """2. Plain form path vs boto3, and the web process's peak memory."""
    from tests.upload_client import sample_fields

    large = make_file(files / "form_R1.fastq.gz", int(args.form_gib * GIB))
    baseline = boto3_upload_seconds(portal.s3.endpoint, "wes-raw-data", large)
    rss_before = portal.peak_rss_bytes()
    body = MultipartBody({**sample_fields("BENCH2"),
                          "csrfmiddlewaretoken": http.http.cookies["csrftoken"]},
                         {"r1": large, "r2": small})
    started = time.perf_counter()
    response = http.http.post(portal.url + "/labs/demo/samples/new/", data=body,
                              headers={"Content-Type": body.content_type,
                                       "Referer": portal.url + "/"},
                              allow_redirects=False)
    form = time.perf_counter() - started
    assert response.status_code == 302, response.text[:2000]
    results["form"] = {"bytes": large.stat().st_size, "portal_seconds": round(form, 2),
                       "boto3_seconds": round(baseline, 2),
                       "ratio_throughput_vs_boto3": round(baseline / form, 3),
                       "web_peak_rss_mb_before": round(rss_before / 1e6, 1),
                       "web_peak_rss_mb": round(portal.peak_rss_bytes() / 1e6, 1)}
    large.unlink()


def cli_path(args, portal, email, files, small, results) -> None:
    """3. `wes upload` vs boto3 with the same part size and concurrency, interleaved."""
    shell = portal.manage("shell", "-c", TOKEN_FOR_CLINICIAN.format(email=email))
    token = shell.strip().splitlines()[-1]   # after shell's "N objects imported" line
    big = make_file(files / "cli_R1.fastq.gz", int(args.cli_gib * GIB))
    runs = []
    for attempt in range(args.repeat):
        cli = cli_upload(portal.url, token, f"BENCH3-{attempt}", big, small)
        baseline = boto3_upload_seconds(portal.s3.endpoint, "wes-raw-data", big,
                                        part_size=cli["part_size"], concurrency=CLI_PARALLEL)
        runs.append({"cli_seconds": round(cli["seconds"], 2), "boto3_seconds": round(baseline, 2),
                     "ratio": round(baseline / cli["seconds"], 3)})
    results["cli"] = {"bytes": big.stat().st_size, "part_size": cli["part_size"],
                      "parallel": CLI_PARALLEL, "runs": runs,
                      "ratio_throughput_vs_boto3": statistics.median(r["ratio"] for r in runs)}
    big.unlink()


if __name__ == "__main__":
    main()
