"""One file's multipart upload: parts straight to storage on presigned PUTs, several at a time,
the whole file's SHA-256 computed on the way.

Each byte is read once. A reader thread reads the parts in order, hashes them, and hands the parts
storage does not hold yet to a small bounded queue; `parallel` sender threads take parts off it,
ask the portal to sign each one and PUT it. On a resume the parts already stored are read (for
the hash) but not sent. Memory: at most (2 x parallel + 1) parts.

The portal side is anything with `start(name, size)`, `sign(part_number)` and
`complete(parts, sha256)` (FileUpload below for the API; the upload bench also drives it through
the browser's endpoints)."""

from __future__ import annotations

import hashlib
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from wes_cli.errors import FAILED, NETWORK, CliError

PUT_TIMEOUT = (10, 300)
PUT_ATTEMPTS = 3


class FileUpload:
    """The API's calls for one file (contract: /labs/{lab}/files/{id}/upload...)."""

    def __init__(self, api, file_id):
        self.api, self.base = api, f"files/{file_id}/upload"

    def start(self, name: str, size: int) -> dict:
        return self.api.post(self.base, {"name": name, "size": size})

    def sign(self, part_number: int) -> dict:
        return self.api.post(f"{self.base}/parts/{part_number}")

    def complete(self, parts: list[dict], sha256: str) -> dict:
        return self.api.post(f"{self.base}/complete", {"parts": parts, "sha256": sha256})


@dataclass
class Outcome:
    name: str
    size: int
    part_size: int = 0
    part_count: int = 0
    parts_kept: int = 0          # stored by an earlier run: read for the hash, not sent
    parts_sent: int = 0
    bytes_sent: int = 0
    seconds: float = 0.0
    sha256: str = ""
    answer: dict = field(default_factory=dict)   # complete's {"file_status", "sample_status"}

    def as_dict(self) -> dict:
        return {"name": self.name, "size": self.size, "part_size": self.part_size,
                "part_count": self.part_count, "parts_kept": self.parts_kept,
                "parts_sent": self.parts_sent, "bytes_sent": self.bytes_sent,
                "seconds": round(self.seconds, 2), "sha256": self.sha256, **self.answer}


def part_length(n: int, part_size: int, size: int) -> int:
    return min(part_size, size - (n - 1) * part_size)


def read_exactly(handle, length: int) -> bytes:
    data = handle.read(length)
    while len(data) < length:
        more = handle.read(length - len(data))
        if not more:
            raise CliError(FAILED, f"{handle.name} became shorter while being uploaded.")
        data += more
    return data


class PartSender:
    def __init__(self, portal, put_session: requests.Session, advance):
        self.portal, self.put_session, self.advance = portal, put_session, advance
        self.etags: dict[int, str] = {}
        self.lock = threading.Lock()
        self.sent = self.bytes_sent = 0

    def send(self, n: int, data: bytes) -> None:
        for attempt in range(PUT_ATTEMPTS):
            signed = self.portal.sign(n)
            if int(signed["size"]) != len(data):
                raise CliError(FAILED, f"The portal signed part {n} for {signed['size']} bytes; "
                                       f"it has {len(data)}. Was the file changed?")
            try:
                response = self.put_session.put(signed["url"], data=data, timeout=PUT_TIMEOUT)
            except requests.RequestException as exc:
                if attempt + 1 < PUT_ATTEMPTS:
                    time.sleep(2 ** attempt)
                    continue
                raise CliError(NETWORK, f"The storage server could not be reached "
                                        f"({type(exc).__name__}).") from exc
            if response.status_code == 200:
                break
            if response.status_code == 403 and attempt + 1 < PUT_ATTEMPTS:
                continue            # a URL that expired while queued: sign it again
            raise CliError(NETWORK if response.status_code >= 500 else FAILED,
                           f"Storage refused part {n}: HTTP {response.status_code} "
                           f"{response.text[:200]}")
        with self.lock:
            self.etags[n] = response.headers["ETag"]
            self.sent += 1
            self.bytes_sent += len(data)
        self.advance(len(data))


def upload_file(portal, path: Path, *, parallel: int, put_session: requests.Session,
                advance=lambda n: None) -> Outcome:
    """Upload `path` (resuming what storage already holds), then complete it with its SHA-256.
    `advance(bytes)` is called as parts are confirmed (kept parts count too)."""
    began = time.perf_counter()
    size = path.stat().st_size
    outcome = Outcome(path.name, size)
    session = portal.start(path.name, size)
    part_size, part_count = int(session["part_size"]), int(session["part_count"])
    outcome.part_size, outcome.part_count = part_size, part_count
    kept = {int(p["part_number"]): p["etag"] for p in session.get("parts", [])
            if int(p["size"]) == part_length(int(p["part_number"]), part_size, size)}
    sender = PartSender(portal, put_session, advance)
    parts: queue.Queue = queue.Queue(maxsize=max(2, parallel))
    failures: list[BaseException] = []
    stop = threading.Event()
    digest = hashlib.sha256()

    def read_parts():
        try:
            with open(path, "rb", buffering=0) as handle:
                for n in range(1, part_count + 1):
                    data = read_exactly(handle, part_length(n, part_size, size))
                    digest.update(data)
                    if stop.is_set():
                        return
                    if n in kept:
                        advance(len(data))
                    else:
                        parts.put((n, data))
        except BaseException as exc:   # noqa: BLE001 - handed to the main thread
            failures.append(exc)
            stop.set()
        finally:
            for _ in range(parallel):
                parts.put(None)

    def send_parts():
        while (item := parts.get()) is not None:
            if stop.is_set():
                continue              # drain, so the reader never blocks on a full queue
            try:
                sender.send(*item)
            except BaseException as exc:   # noqa: BLE001 - handed to the main thread
                failures.append(exc)
                stop.set()

    threads = [threading.Thread(target=read_parts, daemon=True, name="wes-read")]
    threads += [threading.Thread(target=send_parts, daemon=True, name=f"wes-send-{i}")
                for i in range(parallel)]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            while thread.is_alive():
                thread.join(0.2)   # short waits, so Ctrl-C reaches the main thread
    except KeyboardInterrupt:
        stop.set()
        raise
    outcome.parts_kept, outcome.parts_sent, outcome.bytes_sent = (len(kept), sender.sent,
                                                                  sender.bytes_sent)
    if failures:
        error = failures[0]
        if isinstance(error, CliError):
            error.details.update(parts_stored=len(kept) + sender.sent, part_count=part_count)
        raise error
    outcome.sha256 = digest.hexdigest()
    etags = {**kept, **sender.etags}
    outcome.answer = portal.complete(
        [{"part_number": n, "etag": etags[n]} for n in sorted(etags)], outcome.sha256)
    outcome.seconds = time.perf_counter() - began
    return outcome
