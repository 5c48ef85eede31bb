"""The gzip layer of FASTQ validation (jobs/intake/fastq.py): a bounded, hashing decompressor
that refuses truncated, corrupt and bomb-like files, the caps it applies, and a prefetching
thread that overlaps one file's decompression with the checking of both."""

from __future__ import annotations

import hashlib
import queue
import threading
import zlib
from dataclasses import dataclass
from typing import BinaryIO, Iterator

KIB, MIB, GIB = 1024, 1024**2, 1024**3
CHUNK_BYTES = 1 * MIB               # compressed bytes asked of the stream at a time
PIECE_BYTES = 4 * MIB               # most decompressed bytes produced at a time (one batch)
RATIO_CHECKED_FROM = 16 * MIB       # too little output before this for a meaningful ratio
GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class Limits:
    """Caps that keep a bad or hostile upload from costing unbounded time or memory."""

    max_uncompressed_bytes: int = 80 * GIB      # per file
    max_compression_ratio: float = 25.0         # uncompressed / compressed, from 16 MiB output
    max_read_length: int = 1_000_000
    duplicate_filter_bytes: int = 64 * MIB      # Bloom filter size for duplicate read names
    max_duplicate_candidates: int = 100_000     # names the filter flags, kept for confirmation


class FastqProblem(Exception):
    def __init__(self, problem_file: str, reason: str):
        super().__init__(reason)
        self.problem_file, self.reason = problem_file, reason


class GzipStream:
    """Decompresses one gzip file read in chunks, hashing and counting the compressed bytes.

    The file must start with the gzip magic bytes, and each member must reach its end marker with
    a correct CRC and length. Members may follow one another (bgzip, `cat a.gz b.gz`) and zero
    bytes may pad the end, as gzip itself allows; any other byte after a member is corrupt.
    Output stops as soon as it passes the size or ratio cap (a possible gzip bomb).
    """

    def __init__(self, label: str, stream: BinaryIO, limits: Limits):
        self.label, self.stream, self.limits = label, stream, limits
        self.sha256 = hashlib.sha256()
        self.compressed_bytes = self.uncompressed_bytes = 0
        self._at_end = False

    def pieces(self) -> Iterator[bytes]:
        data = self._read_at_least(2, b"")
        if not data:
            raise FastqProblem(self.label, f"{self.label} is empty")
        if not data.startswith(GZIP_MAGIC):
            shown = " ".join(f"{b:02x}" for b in data[:3])
            raise FastqProblem(self.label, f"{self.label} is not gzip-compressed "
                                       f"(it starts with bytes {shown} ...)")
        while data is not None:
            member = zlib.decompressobj(wbits=31)
            while not member.eof:
                if not data:
                    data = self._read()
                    if not data:
                        raise self._truncated()
                try:
                    piece = member.decompress(data, PIECE_BYTES)
                except zlib.error as error:
                    raise self._zlib_problem(error) from None
                data = member.unconsumed_tail
                if piece:
                    self._count(len(piece))
                    yield piece
            data = self._next_member(member.unused_data)

    def _next_member(self, rest: bytes) -> bytes | None:
        """The start of the next member, or None at a clean end of file."""
        while True:
            rest = rest.lstrip(b"\0")
            if not rest:
                rest = self._read()
                if not rest:
                    return None
                continue
            rest = self._read_at_least(2, rest)
            if rest.startswith(GZIP_MAGIC):
                return rest
            if rest == GZIP_MAGIC[:1]:
                raise self._truncated()
            offset = self.compressed_bytes - len(rest)
            raise FastqProblem(self.label, f"{self.label} is corrupt: unexpected data follows the end "
                                       f"of its gzip stream (at compressed byte {offset:,})")

    def _truncated(self) -> FastqProblem:
        return FastqProblem(self.label, f"{self.label} is truncated: the gzip stream ends before its "
                                    f"end marker (after {self.compressed_bytes:,} compressed "
                                    "bytes)")

    def _read(self) -> bytes:
        if self._at_end:
            return b""
        data = self.stream.read(CHUNK_BYTES) or b""
        if not data:
            self._at_end = True
        self.sha256.update(data)
        self.compressed_bytes += len(data)
        return data

    def _read_at_least(self, size: int, data: bytes) -> bytes:
        while len(data) < size and (more := self._read()):
            data += more
        return data

    def _count(self, produced: int) -> None:
        self.uncompressed_bytes += produced
        limits, label = self.limits, self.label
        if self.uncompressed_bytes > limits.max_uncompressed_bytes:
            raise FastqProblem(label, f"{label} decompresses to more than "
                                  f"{size_text(limits.max_uncompressed_bytes)}: refused as a possible "
                                  "gzip bomb")
        if (self.uncompressed_bytes >= RATIO_CHECKED_FROM and self.uncompressed_bytes
                > limits.max_compression_ratio * self.compressed_bytes):
            raise FastqProblem(label, f"{label} expands more than {limits.max_compression_ratio:g} "
                                  "times when decompressed: refused as a possible gzip bomb")

    def _zlib_problem(self, error: zlib.error) -> FastqProblem:
        text, label = str(error), self.label
        if "incorrect data check" in text:
            return FastqProblem(label, f"{label} is corrupt: gzip CRC check failed")
        if "incorrect length check" in text:
            return FastqProblem(label, f"{label} is corrupt: gzip length check failed")
        detail = text.rpartition(": ")[2]
        return FastqProblem(label, f"{label} is corrupt: its gzip data cannot be decompressed "
                               f"({detail})")


class Prefetch:
    """Runs an iterator in a thread, a few items ahead of its consumer.

    zlib, hashlib and socket reads release the GIL, so one file's decompression overlaps with the
    checking of both. An exception in the thread is raised again in the consumer.
    """

    def __init__(self, items: Iterator, depth: int = 2):
        self._queue: queue.Queue = queue.Queue(depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(items,), daemon=True)
        self._thread.start()

    def __iter__(self) -> Iterator:
        while True:
            done, item = self._queue.get()
            if not done:
                yield item
            elif item is None:
                return
            else:
                raise item

    def close(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self, items: Iterator) -> None:
        try:
            for item in items:
                if not self._put((False, item)):
                    return
        except BaseException as error:  # handed to the consumer, whatever it is
            self._put((True, error))
        else:
            self._put((True, None))

    def _put(self, entry: tuple) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(entry, timeout=0.1)
                return True
            except queue.Full:
                pass
        return False


def size_text(n: int) -> str:
    for unit, name in ((GIB, "GiB"), (MIB, "MiB")):
        if n >= unit and n % unit == 0:
            return f"{n // unit:,} {name}"
    return f"{n:,} bytes"
