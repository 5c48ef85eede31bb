"""The SHA-256s that the layers above storage record for stored objects (a FASTQ's on its sample
file, an output's, a report's, an archive's, an audit export's), for the checks that hold storage
against them: the scrub (storage/scrub.py) and the backup's cross-check
(storage/backup/manifest.py). storage imports no app, so those layers register their source here
(jobs/apps.py)."""

from __future__ import annotations

from typing import Callable, Iterable, Iterator

# A source takes a bucket name and keys (None: every bucket, every key) and yields
# (bucket, key, sha256, what) for each object a row of its records a digest for.
DigestSource = Callable[[str | None, list[str] | None], Iterable[tuple[str, str, str, str]]]
_SOURCES: list[DigestSource] = []


def register_digest_source(source: DigestSource) -> DigestSource:
    if source not in _SOURCES:
        _SOURCES.append(source)
    return source


def recorded_digests(bucket: str | None = None,
                     keys: list[str] | None = None) -> Iterator[tuple[str, str, str, str]]:
    """(bucket, key, sha256, what) from every registered source; only `keys` of `bucket` when
    given. Read in the caller's transaction (during a backup, the dump's snapshot)."""
    for source in _SOURCES:
        yield from source(bucket, keys)
