"""SHA-256 of files and streams, read in chunks (no Django, no boto3: the scripted upload client and
the benchmarks use it too). The one place that counts and hashes bytes as they pass."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable
from pathlib import Path

CHUNK = 8 * 1024 * 1024


def sha256_chunks(chunks: Iterable[bytes]) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def size_and_sha256(chunks: Iterable[bytes]) -> tuple[int, str]:
    """How many bytes the chunks hold, and their SHA-256, in one pass."""
    digest, size = hashlib.sha256(), 0
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


def sha256_file(path: Path | str) -> str:
    with open(path, "rb") as handle:
        return sha256_chunks(iter(lambda: handle.read(CHUNK), b""))


class HashingStream(io.RawIOBase):
    """Passes reads from (or writes to) `stream` through, counting and hashing every byte, so a
    stream is checked in the same pass that moves it."""

    def __init__(self, stream):
        super().__init__()
        self.stream = stream
        self.size = 0
        self._digest = hashlib.sha256()

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()

    def _count(self, data) -> None:
        self._digest.update(data)
        self.size += len(data)

    def readable(self) -> bool:
        return hasattr(self.stream, "read")

    def writable(self) -> bool:
        return hasattr(self.stream, "write")

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size if size is not None and size >= 0 else None)
        self._count(data)
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def write(self, data) -> int:
        self._count(data)
        return self.stream.write(data)

    def flush(self) -> None:
        if hasattr(self.stream, "flush"):
            self.stream.flush()

    def drain(self, chunk: int = 1024 * 1024) -> None:
        while self.read(chunk):
            pass
