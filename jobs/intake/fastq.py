"""Streaming validation of a paired, gzip-compressed FASTQ upload (R1 and R2).

Both files are read once, in lockstep and in chunks, so memory stays bounded whatever their size;
the largest allocation is the Bloom filter used to look for repeated read names. The first
problem found is reported as one sentence a clinician can act on.

Speed comes from checking a whole batch of records (one decompressed piece, a few MiB) with a few
C-level operations (`bytes.translate`, `list.count`, `map`); only a batch that fails this screen
is walked record by record, to name the first bad record precisely.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import random
import threading
import zlib
from dataclasses import dataclass
from itertools import repeat
from operator import itemgetter
from typing import BinaryIO, Callable, Iterable, Iterator

log = logging.getLogger(__name__)

KIB, MIB, GIB = 1024, 1024**2, 1024**3
CHUNK_BYTES = 1 * MIB               # compressed bytes asked of the stream at a time
PIECE_BYTES = 4 * MIB               # most decompressed bytes produced at a time (one batch)
RATIO_CHECKED_FROM = 16 * MIB       # too little output before this for a meaningful ratio
MAX_HEADER_LENGTH = 64 * KIB
GZIP_MAGIC = b"\x1f\x8b"

BASES = b"ACGTNacgtn"
QUALITY_CHARS = bytes(range(ord("!"), ord("~") + 1))
BELOW_Q30 = bytes(range(ord("!"), ord("!") + 30))   # Phred+33 qualities 0..29


@dataclass(frozen=True)
class Limits:
    """Caps that keep a bad or hostile upload from costing unbounded time or memory."""

    max_uncompressed_bytes: int = 80 * GIB      # per file
    max_compression_ratio: float = 25.0         # uncompressed / compressed, from 16 MiB output
    max_read_length: int = 1_000_000
    duplicate_filter_bytes: int = 64 * MIB      # Bloom filter size for duplicate read names
    max_duplicate_candidates: int = 100_000     # names the filter flags, kept for confirmation


@dataclass
class ReadStats:
    compressed_bytes: int
    uncompressed_bytes: int
    sha256: str                  # of the compressed bytes as read
    read_count: int
    base_count: int
    min_length: int
    max_length: int
    mean_length: float
    q30_fraction: float


@dataclass
class PairReport:
    ok: bool
    reason: str                  # "" when ok, else one sentence for a clinician
    problem_file: str            # "R1", "R2", "pair" or ""
    r1: ReadStats | None
    r2: ReadStats | None


class _Invalid(Exception):
    def __init__(self, problem_file: str, reason: str):
        super().__init__(reason)
        self.problem_file, self.reason = problem_file, reason


def validate_pair(r1: BinaryIO, r2: BinaryIO, *, limits: Limits = Limits(),
                  reopen: Callable[[str], BinaryIO] | None = None) -> PairReport:
    """Check that R1 and R2 are intact gzip files holding valid FASTQ records that pair up.

    Record i of R1 is paired with record i of R2: their names must match, both files must hold the
    same number of records, and no read name may occur twice. A name the Bloom filter flags as
    repeated is only reported once an exact second pass over R1 (through `reopen`) confirms it;
    without `reopen`, only repeats close enough to be seen exactly in the first pass are reported.
    R1 alone is searched for repeats, since R2's names equal R1's record by record. Names flagged
    beyond `limits.max_duplicate_candidates` go unconfirmed (a warning is logged).
    """
    names = _NameFilter(limits.duplicate_filter_bytes, limits.max_duplicate_candidates)
    f1 = _FastqFile("R1", r1, limits, names)
    f2 = _FastqFile("R2", r2, limits, None)
    problem = None
    try:
        _read_in_lockstep(f1, f2)
        _check_whole_pair(f1, f2)
        if names.overflowed:
            log.warning("duplicate read names: more than %s candidates in R1, only those are "
                        "confirmed; raise Limits.duplicate_filter_bytes", names.max_candidates)
        if reopen is not None and names.candidates:
            _confirm_duplicates(reopen, names.candidates, limits)
    except _Invalid as found:
        problem = found
    finally:
        f1.close()
        f2.close()
    if problem is None:
        return PairReport(True, "", "", f1.stats(), f2.stats())
    return PairReport(False, problem.reason, problem.problem_file, f1.stats(), f2.stats())


def _read_in_lockstep(f1: _FastqFile, f2: _FastqFile) -> None:
    """Read from whichever file is behind, so that records are paired as they arrive and neither
    file's unpaired names pile up in memory. The longer file is read to its end regardless."""
    pairing = _Pairing(f1, f2)
    batches = {f1: f1.batches(), f2: f2.batches()}
    while batches:
        behind = min(batches, key=lambda f: (f.read_count, f.label))
        names = next(batches[behind], None)
        if names is None:
            del batches[behind]
            pairing.close()
        else:
            pairing.add(behind, names)


def _check_whole_pair(f1: _FastqFile, f2: _FastqFile) -> None:
    for f in (f1, f2):
        if f.read_count == 0:
            raise _Invalid(f.label, f"{f.label} contains no reads")
    if f1.read_count != f2.read_count:
        more, fewer = (f1, f2) if f1.read_count > f2.read_count else (f2, f1)
        raise _Invalid("pair", f"{more.label} has {more.read_count:,} reads "
                               f"but {fewer.label} has {fewer.read_count:,}")
    if f1.gz.sha256.digest() == f2.gz.sha256.digest():
        raise _Invalid("pair", "R1 and R2 are the same file")


class _Pairing:
    """Pairs record i of R1 with record i of R2 by read name.

    Names are compared up to the first whitespace, without a trailing "/1" or "/2". Casava 1.8
    comments ("1:N:0:...") or "/1" "/2" suffixes that say R1 holds read 2 mean swapped files.
    """

    def __init__(self, f1: _FastqFile, f2: _FastqFile):
        self.files = (f1, f2)
        self.waiting: dict[_FastqFile, list[bytes]] = {f1: [], f2: []}
        self.paired = 0
        self.open = True

    def add(self, f: _FastqFile, names: list[bytes]) -> None:
        if not self.open:
            return
        self.waiting[f].extend(names)
        f1, f2 = self.files
        n = min(len(self.waiting[f1]), len(self.waiting[f2]))
        if n == 0:
            return
        if self.paired == 0:
            _check_not_swapped(f1.first_header, f2.first_header)
        names1, names2 = self.waiting[f1][:n], self.waiting[f2][:n]
        if names1 != names2:
            self._compare_without_mates(names1, names2)
        del self.waiting[f1][:n], self.waiting[f2][:n]
        self.paired += n

    def close(self) -> None:
        """One file has ended: the other's extra records can only be counted, not paired."""
        self.open = False
        self.waiting = {g: [] for g in self.files}

    def _compare_without_mates(self, names1: list[bytes], names2: list[bytes]) -> None:
        stripped1, stripped2 = _without_mates(names1), _without_mates(names2)
        if stripped1 == stripped2:
            return
        for i, (a, b) in enumerate(zip(stripped1, stripped2)):
            if a != b:
                raise _Invalid("pair", f"record {self.paired + i + 1:,} names differ: "
                                       f"R1 has {_name(names1[i])}, R2 has {_name(names2[i])}")


def _without_mates(names: list[bytes]) -> list[bytes]:
    return [n[:-2] if n.endswith((b"/1", b"/2")) else n for n in names]


def _check_not_swapped(header1: bytes, header2: bytes) -> None:
    def read_number(header: bytes) -> bytes:
        name, comment = (header.split(None, 1) + [b""])[:2]
        if name.endswith((b"/1", b"/2")):
            return name[-1:]
        return comment[:1] if comment[1:2] == b":" else b""

    if read_number(header1) == b"2" and read_number(header2) == b"1":
        raise _Invalid("pair", "R1 and R2 look swapped: R1's reads are marked as read 2")


class _FastqFile:
    """The records of one FASTQ.gz file, checked a batch at a time.

    Each record is four lines: a header "@name[ comment]", the sequence (A, C, G, T and N in
    either case), a "+" line (optionally repeating the header) and one quality character from "!"
    to "~" per base. Lines end in LF only; empty lines are not allowed.
    """

    def __init__(self, label: str, stream: BinaryIO, limits: Limits, names: _NameFilter | None):
        self.label, self.limits, self.names = label, limits, names
        self.gz = _GzipStream(label, stream, limits)
        self.first_header = b""
        self.read_count = self.base_count = self.q30_count = 0
        self.min_length, self.max_length = None, 0
        self._recent: tuple[int, list[bytes], set[bytes]] = (0, [], set())
        self._pieces: _Prefetch | None = None

    def batches(self) -> Iterator[list[bytes]]:
        """Yield the read names (with "@") of each batch of records, once it is valid."""
        self._pieces = _Prefetch(self.gz.pieces())
        framer = _Framer(self.label, self._pieces, self.limits)
        for lines in framer.batches():
            yield self._accept(lines)
        if framer.tail:
            yield self._accept(self._last_record(framer.tail, framer.ends_with_newline))

    def close(self) -> None:
        """Stop reading ahead, so that the counts no longer change."""
        if self._pieces is not None:
            self._pieces.close()

    def stats(self) -> ReadStats:
        count = self.read_count
        return ReadStats(
            compressed_bytes=self.gz.compressed_bytes,
            uncompressed_bytes=self.gz.uncompressed_bytes,
            sha256=self.gz.sha256.hexdigest(), read_count=count, base_count=self.base_count,
            min_length=self.min_length or 0, max_length=self.max_length,
            mean_length=self.base_count / count if count else 0.0,
            q30_fraction=self.q30_count / self.base_count if self.base_count else 0.0)

    def _last_record(self, tail: list[bytes], ends_with_newline: bool) -> list[bytes]:
        """The lines left after the last complete record: fine only if they are a whole record
        whose final newline is missing."""
        record = self.read_count + 1
        if not tail[0]:
            raise _Invalid(self.label, self._empty_line(record))
        cut_short = len(tail) < 4 or (not ends_with_newline and len(tail[3]) < len(tail[1]))
        if cut_short:
            raise _Invalid(self.label, f"{self.label} ends in the middle of record {record:,}")
        return tail

    def _accept(self, lines: list[bytes]) -> list[bytes]:
        heads, seqs, pluses, quals = lines[0::4], lines[1::4], lines[2::4], lines[3::4]
        lengths = list(map(len, seqs))
        seq_bytes, qual_bytes = b"".join(seqs), b"".join(quals)
        looks_valid = (
            all(map(bytes.startswith, heads, repeat(b"@")))
            and pluses.count(b"+") == len(pluses)
            and lengths == list(map(len, quals))
            and not seq_bytes.translate(None, BASES)
            and not qual_bytes.translate(None, QUALITY_CHARS)
            and max(lengths) <= self.limits.max_read_length
            and max(map(len, heads)) <= MAX_HEADER_LENGTH
            and b"\r" not in b"".join(heads))
        if not looks_valid:
            self._find_bad_record(heads, seqs, pluses, quals)
        names = list(map(itemgetter(0), map(bytes.split, heads, repeat(None), repeat(1))))
        if b"@" in names:
            self._find_bad_record(heads, seqs, pluses, quals)

        first = self.read_count + 1
        if self.names is not None:
            self._check_recent_repeats(first, names)
            self.names.add(names)
        if not self.first_header:
            self.first_header = heads[0]
        self.read_count += len(heads)
        self.base_count += len(seq_bytes)
        self.q30_count += len(qual_bytes.translate(None, BELOW_Q30))
        shortest = min(lengths)
        self.min_length = shortest if self.min_length is None else min(self.min_length, shortest)
        self.max_length = max(self.max_length, max(lengths))
        return names

    def _find_bad_record(self, heads, seqs, pluses, quals) -> None:
        """Raise for the first record of the batch that breaks a rule; return if there is none
        (e.g. the "+" lines merely repeat the headers)."""
        for i, lines in enumerate(zip(heads, seqs, pluses, quals)):
            problem = self._record_problem(self.read_count + i + 1, *lines)
            if problem:
                raise _Invalid(self.label, problem)

    def _record_problem(self, n: int, head: bytes, seq: bytes, plus: bytes, qual: bytes) -> str:
        where = f"record {n:,} of {self.label}"
        if not head:
            return self._empty_line(n)
        if any(line.endswith(b"\r") for line in (head, seq, plus, qual)):
            return f"{self.label} has Windows line endings (CR LF) at record {n:,}"
        if not head.startswith(b"@"):
            return f'{where} does not start with "@" (its first line is {_show(head)})'
        name = head.split(None, 1)[0]
        if name == b"@":
            return f"{where} has a header line without a read name"
        if len(head) > MAX_HEADER_LENGTH:
            return f"{where} has a header line longer than {MAX_HEADER_LENGTH:,} characters"
        if len(seq) > self.limits.max_read_length:
            return (f"{where} has a read of {len(seq):,} bases, longer than the "
                    f"{self.limits.max_read_length:,} allowed")
        if not plus:
            return f'{where} has an empty line where its "+" line should be'
        if not plus.startswith(b"+"):
            return f'{where} has no "+" line (its third line is {_show(plus)})'
        if plus != b"+" and plus[1:] not in (head[1:], name[1:]):
            return f'{where} has a "+" line naming a different read than its header'
        if bad := seq.translate(None, BASES):
            return (f"{where} has an invalid base {_show_char(bad[0])} in its sequence "
                    "(only A, C, G, T and N are allowed)")
        if bad := qual.translate(None, QUALITY_CHARS):
            return (f"{where} has an invalid quality character {_show_char(bad[0])} "
                    '(only "!" to "~" are allowed)')
        if len(qual) != len(seq):
            relation = "shorter" if len(qual) < len(seq) else "longer"
            return (f"{where} has a quality string {relation} than its sequence "
                    f"({len(qual):,} vs {len(seq):,})")
        return ""

    def _empty_line(self, record: int) -> str:
        line = (record - 1) * 4 + 1
        return (f"{self.label} has an empty line where record {record:,} should start "
                f"(line {line:,})")

    def _check_recent_repeats(self, first: int, names: list[bytes]) -> None:
        """Repeats within this batch or the one before are caught exactly, without `reopen`."""
        current = set(names)
        previous_first, previous_names, previous = self._recent
        if len(current) != len(names) or not previous.isdisjoint(current):
            seen: dict[bytes, int] = {}
            numbered = [*zip(previous_names, range(previous_first, first)),
                        *zip(names, range(first, first + len(names)))]
            for name, record in numbered:
                if name in seen:
                    raise _Invalid(self.label,
                                   _repeat_message(self.label, name, seen[name], record))
                seen[name] = record
        self._recent = (first, names, current)


def _repeat_message(label: str, name: bytes, first: int, second: int) -> str:
    return f"{label} names the same read twice ({_name(name)}, records {first:,} and {second:,})"


class _Framer:
    """Cuts the decompressed text into lines, and the lines into whole four-line records.

    After iteration, `tail` holds the lines after the last whole record (the last one possibly
    without its newline). A line may not grow past the longest allowed, so memory stays bounded
    even for a file without newlines.
    """

    def __init__(self, label: str, pieces: Iterable[bytes], limits: Limits):
        self.label, self.pieces, self.limits = label, pieces, limits
        self.tail: list[bytes] = []
        self.ends_with_newline = True

    def batches(self) -> Iterator[list[bytes]]:
        partial, carry, lines_done = b"", [], 0
        for piece in self.pieces:
            lines = (partial + piece).split(b"\n") if partial else piece.split(b"\n")
            partial = lines.pop()
            if carry:
                lines[:0] = carry
            whole = len(lines) - len(lines) % 4
            carry = lines[whole:]
            del lines[whole:]
            lines_done += whole
            self._check_line_length(partial, lines_done + len(carry))
            if lines:
                yield lines
        self.tail = carry + [partial] if partial else carry
        self.ends_with_newline = not partial

    def _check_line_length(self, partial: bytes, line_index: int) -> None:
        record, role = divmod(line_index, 4)
        where = f"record {record + 1:,} of {self.label}"
        if role in (1, 3) and len(partial) > self.limits.max_read_length + 1:
            kind = "read" if role == 1 else "quality string"
            raise _Invalid(self.label, f"{where} has a {kind} longer than the "
                                       f"{self.limits.max_read_length:,} bases allowed")
        if role in (0, 2) and len(partial) > MAX_HEADER_LENGTH + 1:
            raise _Invalid(self.label, f"{where} has a header line longer than "
                                       f"{MAX_HEADER_LENGTH:,} characters")


class _GzipStream:
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
            raise _Invalid(self.label, f"{self.label} is empty")
        if not data.startswith(GZIP_MAGIC):
            shown = " ".join(f"{b:02x}" for b in data[:3])
            raise _Invalid(self.label, f"{self.label} is not gzip-compressed "
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
            raise _Invalid(self.label, f"{self.label} is corrupt: unexpected data follows the end "
                                       f"of its gzip stream (at compressed byte {offset:,})")

    def _truncated(self) -> _Invalid:
        return _Invalid(self.label, f"{self.label} is truncated: the gzip stream ends before its "
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
            raise _Invalid(label, f"{label} decompresses to more than "
                                  f"{_size(limits.max_uncompressed_bytes)}: refused as a possible "
                                  "gzip bomb")
        if (self.uncompressed_bytes >= RATIO_CHECKED_FROM and self.uncompressed_bytes
                > limits.max_compression_ratio * self.compressed_bytes):
            raise _Invalid(label, f"{label} expands more than {limits.max_compression_ratio:g} "
                                  "times when decompressed: refused as a possible gzip bomb")

    def _zlib_problem(self, error: zlib.error) -> _Invalid:
        text, label = str(error), self.label
        if "incorrect data check" in text:
            return _Invalid(label, f"{label} is corrupt: gzip CRC check failed")
        if "incorrect length check" in text:
            return _Invalid(label, f"{label} is corrupt: gzip length check failed")
        detail = text.rpartition(": ")[2]
        return _Invalid(label, f"{label} is corrupt: its gzip data cannot be decompressed "
                               f"({detail})")


class _Prefetch:
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


class _NameFilter:
    """A blocked Bloom filter over read names: each name sets 4 bits in each of two 64-bit words.

    A name whose bits are all set already is only a candidate repeat (false positives happen);
    candidates are kept as 64-bit blake2b fingerprints, at most `max_candidates`, for an exact
    second pass. Two words per name keep the work to a few Python operations per name, with
    about 1.5 times the false positives of a classic Bloom filter of the same size.
    """

    def __init__(self, size_bytes: int, max_candidates: int):
        self.words = memoryview(bytearray(max(8, size_bytes // 8 * 8))).cast("Q")
        self.max_candidates = max_candidates
        self.candidates: set[int] = set()
        self.overflowed = False

    def add(self, names: list[bytes]) -> None:
        words, count = self.words, len(self.words)
        low, high = _MASKS
        flagged = []
        hashes = iter(_hashes(names))
        for v, u in zip(hashes, hashes):
            i, j = (v >> 24) % count, (u >> 24) % count
            mask_i = low[v & 0xFFF] | high[(v >> 12) & 0xFFF]
            mask_j = low[u & 0xFFF] | high[(u >> 12) & 0xFFF]
            word_i = words[i]
            if word_i & mask_i == mask_i and words[j] & mask_j == mask_j:
                flagged.append(v)
            else:
                words[i] = word_i | mask_i
                words[j] |= mask_j
        if flagged:
            room = max(self.max_candidates - len(self.candidates), 0)
            self.overflowed |= len(flagged) > room
            self.candidates.update(flagged[:room])


def _bit_masks(seed: int, bits: int) -> list[int]:
    rng = random.Random(seed)
    return [sum(1 << b for b in rng.sample(range(64), bits)) for _ in range(4096)]


_MASKS = (_bit_masks(1, 2), _bit_masks(2, 2))


def _hashes(names: list[bytes]) -> list[int]:
    """Two 64-bit blake2b values per name; the first is the name's fingerprint."""
    blake2b = hashlib.blake2b
    digests = b"".join([blake2b(name, digest_size=16).digest() for name in names])
    return memoryview(digests).cast("Q").tolist()


def _confirm_duplicates(reopen: Callable[[str], BinaryIO], candidates: set[int],
                        limits: Limits) -> None:
    """Read R1 again and raise for the first candidate name that really occurs twice."""
    stream = reopen("R1")
    pieces = _Prefetch(_GzipStream("R1", stream, limits).pieces())
    try:
        seen: dict[bytes, int] = {}
        first = 1
        for lines in _Framer("R1", pieces, limits).batches():
            names = [(head.split(None, 1) or [b""])[0] for head in lines[0::4]]
            hits = [i for i, v in enumerate(_hashes(names)[::2]) if v in candidates]
            for i in hits:
                name, record = names[i], first + i
                if name in seen:
                    raise _Invalid("R1", _repeat_message("R1", name, seen[name], record))
                seen[name] = record
            first += len(names)
    finally:
        pieces.close()
        close = getattr(stream, "close", None)
        if close:
            close()


def _name(name: bytes) -> str:
    """A read name as found in a header, without its "@"."""
    return _text(name[1:])


def _show(line: bytes) -> str:
    return f'"{_text(line)}"'


def _text(text: bytes, limit: int = 60) -> str:
    shown = text[:limit].decode("ascii", "backslashreplace")
    return shown + "..." if len(text) > limit else shown


def _show_char(byte: int) -> str:
    if 0x20 <= byte < 0x7F:
        return f'"{chr(byte)}"'
    return f"(byte 0x{byte:02x})"


def _size(n: int) -> str:
    for unit, name in ((GIB, "GiB"), (MIB, "MiB")):
        if n >= unit and n % unit == 0:
            return f"{n // unit:,} {name}"
    return f"{n:,} bytes"
