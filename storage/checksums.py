"""SHA-256 of files and streams, read in chunks (no Django, no boto3: the scripted upload client and
the benchmarks use it too)."""

from __future__ import annotations

import hashlib
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
