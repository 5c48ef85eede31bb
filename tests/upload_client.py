"""A scripted client that does exactly what the browser's uploader does (docs/upload-api.md):
create the sample, ask the portal to sign each part, PUT the part straight to S3, complete, and
let the portal verify. Used by the tests and by bench/upload.py.

`portal` is anything with `post_json(url, data)`, `get_json(url)`, `delete_json(url)` and
`post_form(url, data)` returning `(status, json)`: the Django test client in tests, an HTTP
session against a running portal in the benchmark.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import requests

from storage.checksums import sha256_file


class UploadFailed(Exception):
    def __init__(self, status: int, answer: dict):
        self.status, self.answer = status, answer
        errors = answer.get("errors", {}) if isinstance(answer, dict) else {}
        super().__init__(f"{status}: {errors or answer}")


@dataclass
class DirectUploader:
    portal: object
    lab_slug: str
    concurrency: int = 6
    session: requests.Session | None = None

    def __post_init__(self):
        self.session = self.session or requests.Session()

    def create_sample(self, fields: dict, r1: Path, r2: Path) -> dict:
        data = {**fields, "r1_name": r1.name, "r1_size": r1.stat().st_size,
                "r2_name": r2.name, "r2_size": r2.stat().st_size}
        status, answer = self.portal.post_form(f"/labs/{self.lab_slug}/samples/new/", data)
        if status != 201:
            raise UploadFailed(status, answer)
        return answer

    def start(self, file_info: dict, path: Path) -> dict:
        status, answer = self.portal.post_json(file_info["upload_url"], {
            "name": path.name, "size": path.stat().st_size,
            "last_modified": int(path.stat().st_mtime * 1000)})
        if status != 200:
            raise UploadFailed(status, answer)
        return answer

    def put_part(self, file_info: dict, path: Path, part_number: int, part_size: int) -> dict:
        status, signed = self.portal.post_json(f"{file_info['upload_url']}parts/{part_number}/",
                                               {})
        if status != 200:
            raise UploadFailed(status, signed)
        with open(path, "rb") as handle:
            handle.seek((part_number - 1) * part_size)
            body = handle.read(signed.get("size", part_size))  # the length the URL is signed for
        response = self.session.put(signed["url"], data=body, timeout=300)
        response.raise_for_status()
        return {"PartNumber": part_number, "ETag": response.headers["ETag"]}

    def upload(self, file_info: dict, path: Path, *, only_parts: set[int] | None = None,
               sha256: str | None = None) -> tuple[int, dict]:
        """Upload the parts S3 does not hold yet (all, or `only_parts`), then complete."""
        session = self.start(file_info, path)
        stored = {p["PartNumber"]: p for p in session["parts"]}
        wanted = [n for n in range(1, session["part_count"] + 1)
                  if n not in stored and (only_parts is None or n in only_parts)]
        def send(n):
            return self.put_part(file_info, path, n, session["part_size"])

        if self.concurrency == 1:
            sent = [send(n) for n in wanted]
        else:
            with ThreadPoolExecutor(self.concurrency) as pool:
                sent = list(pool.map(send, wanted))
        if only_parts is not None:
            return 0, {"sent": [p["PartNumber"] for p in sent]}
        parts = sorted([*stored.values(), *sent], key=lambda p: p["PartNumber"])
        return self.portal.post_json(f"{file_info['upload_url']}complete/", {
            "parts": [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]} for p in parts],
            "sha256": sha256 or file_sha256(path)})

    def upload_sample(self, fields: dict, r1: Path, r2: Path) -> dict:
        created = self.create_sample(fields, r1, r2)
        for file_info, path in zip(sorted(created["files"], key=lambda f: f["read"]), (r1, r2)):
            status, answer = self.upload(file_info, path)
            if status != 200:
                raise UploadFailed(status, answer)
        return created


file_sha256 = sha256_file


def sample_fields(name: str = "S1", **extra) -> dict:
    return {"name": name, "external_id": f"PSN-{name}", "sex": "female",
            "clinical_indication": "Early-onset epilepsy", "hpo_terms": "HP:0001250",
            "consent": "on", **extra}


def write_random_file(path: Path, size: int) -> Path:
    with open(path, "wb") as handle:
        remaining = size
        while remaining:
            chunk = os.urandom(min(remaining, 8 * 1024 * 1024))
            handle.write(chunk)
            remaining -= len(chunk)
    return path
