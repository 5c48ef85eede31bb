"""Streaming validation of a paired, gzip-compressed FASTQ upload (R1 and R2).

Both files are read once, in lockstep and in chunks, so memory stays bounded whatever their size;
the largest allocation is the Bloom filter used to look for repeated read names. The first
problem found is reported as one sentence a clinician can act on.

Speed comes from checking a whole batch of records (one decompressed piece, a few MiB) with a few
C-level operations (`bytes.translate`, `list.count`, `map`); only a batch that fails this screen
is walked record by record, to name the first bad record precisely.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from itertools import repeat
from operator import itemgetter
from typing import BinaryIO, Callable, Iterable, Iterator

from jobs.intake.fastq_gzip import KIB, FastqProblem, GzipStream, Limits, Prefetch
from jobs.intake.read_names import NameFilter, name_hashes

log = logging.getLogger(__name__)

MAX_HEADER_LENGTH = 64 * KIB

BASES = b"ACGTNacgtn"
QUALITY_CHARS = bytes(range(ord("!"), ord("~") + 1))
BELOW_Q30 = bytes(range(ord("!"), ord("!") + 30))   # Phred+33 qualities 0..29


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
    names = NameFilter(limits.duplicate_filter_bytes, limits.max_duplicate_candidates)
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
    except FastqProblem as found:
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
            raise FastqProblem(f.label, f"{f.label} contains no reads")
    if f1.read_count != f2.read_count:
        more, fewer = (f1, f2) if f1.read_count > f2.read_count else (f2, f1)
        raise FastqProblem("pair", f"{more.label} has {more.read_count:,} reads "
                               f"but {fewer.label} has {fewer.read_count:,}")
    if f1.gz.sha256.digest() == f2.gz.sha256.digest():
        raise FastqProblem("pair", "R1 and R2 are the same file")


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
                raise FastqProblem("pair", f"record {self.paired + i + 1:,} names differ: "
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
        raise FastqProblem("pair", "R1 and R2 look swapped: R1's reads are marked as read 2")


class _FastqFile:
    """The records of one FASTQ.gz file, checked a batch at a time.

    Each record is four lines: a header "@name[ comment]", the sequence (A, C, G, T and N in
    either case), a "+" line (optionally repeating the header) and one quality character from "!"
    to "~" per base. Lines end in LF only; empty lines are not allowed.
    """

    def __init__(self, label: str, stream: BinaryIO, limits: Limits, names: NameFilter | None):
        self.label, self.limits, self.names = label, limits, names
        self.gz = GzipStream(label, stream, limits)
        self.first_header = b""
        self.read_count = self.base_count = self.q30_count = 0
        self.min_length, self.max_length = None, 0
        self._recent: tuple[int, list[bytes], set[bytes]] = (0, [], set())
        self._pieces: Prefetch | None = None

    def batches(self) -> Iterator[list[bytes]]:
        """Yield the read names (with "@") of each batch of records, once it is valid."""
        self._pieces = Prefetch(self.gz.pieces())
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
            raise FastqProblem(self.label, self._empty_line(record))
        cut_short = len(tail) < 4 or (not ends_with_newline and len(tail[3]) < len(tail[1]))
        if cut_short:
            raise FastqProblem(self.label, f"{self.label} ends in the middle of record {record:,}")
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
                raise FastqProblem(self.label, problem)

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
                    raise FastqProblem(self.label,
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
            raise FastqProblem(self.label, f"{where} has a {kind} longer than the "
                                       f"{self.limits.max_read_length:,} bases allowed")
        if role in (0, 2) and len(partial) > MAX_HEADER_LENGTH + 1:
            raise FastqProblem(self.label, f"{where} has a header line longer than "
                                       f"{MAX_HEADER_LENGTH:,} characters")


def _confirm_duplicates(reopen: Callable[[str], BinaryIO], candidates: set[int],
                        limits: Limits) -> None:
    """Read R1 again and raise for the first candidate name that really occurs twice."""
    stream = reopen("R1")
    pieces = Prefetch(GzipStream("R1", stream, limits).pieces())
    try:
        seen: dict[bytes, int] = {}
        first = 1
        for lines in _Framer("R1", pieces, limits).batches():
            names = [(head.split(None, 1) or [b""])[0] for head in lines[0::4]]
            hits = [i for i, v in enumerate(name_hashes(names)[::2]) if v in candidates]
            for i in hits:
                name, record = names[i], first + i
                if name in seen:
                    raise FastqProblem("R1", _repeat_message("R1", name, seen[name], record))
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


