"""Deterministic paired FASTQ.gz files for tests, and broken variants of them (standard library
only, so it can run anywhere a test needs a file).

The same arguments always give the same bytes: randomness comes from `random.Random(seed)` and
gzip headers carry mtime 0 and no file name.
"""

from __future__ import annotations

import gzip
import itertools
import random
import shutil
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterator

BATCH_READS = 4096
READS_PER_TILE = 100_000
INDEX = b"ACGTACGT"

# Random bytes become bases through these tables: one byte in 256 becomes N.
BASE_TABLE = bytes(ord("N") if i == 0 else b"ACGT"[i % 4] for i in range(256))
# Quality characters drawn with these frequencies: mostly Q30-Q40 early in a read, falling off
# over its last 30 % (about 87 % of bases at Q30 or more, as on a good Illumina run).
HIGH_QUALITIES = b"I" * 150 + b"H" * 30 + b"G" * 20 + b"F" * 20 + b"E?><:5#" * 3
TAIL_QUALITIES = b"I" * 40 + b"H" * 25 + b"G" * 20 + b"F" * 20 + b"E" * 15 + b"?<:750+'#" * 6
HIGH_TABLE = bytes(HIGH_QUALITIES[i * len(HIGH_QUALITIES) // 256] for i in range(256))
TAIL_TABLE = bytes(TAIL_QUALITIES[i * len(TAIL_QUALITIES) // 256] for i in range(256))
BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")

Variant = tuple[Path, Path, str]


def write_fastq_pair(directory: Path, sample: str = "S1", *, reads: int = 1000, length: int = 100,
                     seed: int | None = None, casava: bool = True) -> tuple[Path, Path]:
    """Write `{sample}_R1.fastq.gz` and `{sample}_R2.fastq.gz` holding `reads` valid pairs. The
    reads depend on the sample name (or `seed`), so two samples never share a file."""
    paths = _pair_paths(directory, sample)
    if seed is None:
        seed = zlib.crc32(sample.encode())
    with _GzipWriter(paths[0], 6) as out1, _GzipWriter(paths[1], 6) as out2:
        for batch1, batch2 in _batches(_read_pairs(reads, length, seed, casava)):
            out1.write(batch1)
            out2.write(batch2)
    return paths


def fastq_pair_of_size(directory: Path, sample: str, target_bytes: int,
                       seed: int = 1) -> tuple[Path, Path]:
    """Write a valid pair of 150-base reads whose R1 is at least `target_bytes` compressed.

    For speed, sequences and qualities repeat every 4,096 reads (about 1.3 MB, far beyond
    gzip's 32 KiB window, so the output is as large as for fresh ones), the level is 1 and the two
    files are compressed in parallel threads (zlib releases the GIL)."""
    paths = _pair_paths(directory, sample)
    pool = [(rec1.partition(b"\n")[2], rec2.partition(b"\n")[2])
            for rec1, rec2 in _read_pairs(BATCH_READS, 150, seed, True)]
    rng = random.Random(seed)
    with (_GzipWriter(paths[0], 1) as out1, _GzipWriter(paths[1], 1) as out2,
          ThreadPoolExecutor(2) as threads):
        for start in itertools.count(0, BATCH_READS):
            names = [_name(i, rng) for i in range(start, start + BATCH_READS)]
            batch1 = b"".join([_header(name, 1, True) + b"\n" + body1
                               for name, (body1, _) in zip(names, pool)])
            batch2 = b"".join([_header(name, 2, True) + b"\n" + body2
                               for name, (_, body2) in zip(names, pool)])
            list(threads.map(_GzipWriter.write, (out1, out2), (batch1, batch2)))
            if out1.raw.tell() >= target_bytes:
                break
    return paths


def _read_pairs(reads: int, length: int, seed: int, casava: bool) -> Iterator[tuple[bytes, bytes]]:
    """Yield (R1 record, R2 record) with Illumina-like names, unique per tile and y position."""
    rng = random.Random(seed)
    high = length * 7 // 10
    for start in range(0, reads, BATCH_READS):
        count = min(BATCH_READS, reads - start)
        size = BATCH_READS * length   # whole batches, so fewer reads give a prefix of more
        bases1 = rng.randbytes(size).translate(BASE_TABLE)
        bases2 = rng.randbytes(size).translate(BASE_TABLE)
        noise1, noise2 = rng.randbytes(size), rng.randbytes(size)
        quals1 = noise1.translate(HIGH_TABLE), noise1.translate(TAIL_TABLE)
        quals2 = noise2.translate(HIGH_TABLE), noise2.translate(TAIL_TABLE)
        for k in range(count):
            name, a, b = _name(start + k, rng), k * length, (k + 1) * length
            qual1 = quals1[0][a:a + high] + quals1[1][a + high:b]
            qual2 = quals2[0][a:a + high] + quals2[1][a + high:b]
            yield (_record(_header(name, 1, casava), bases1[a:b], qual1),
                   _record(_header(name, 2, casava), bases2[a:b], qual2))


def _name(i: int, rng: random.Random) -> bytes:
    """Read i's name: instrument, run, flow cell, lane, tile, x, y (tile and y make it unique)."""
    return b"INSTR:1:FC:1:%d:%d:%d" % (1101 + i // READS_PER_TILE, rng.randrange(1000, 32000),
                                       1000 + i % READS_PER_TILE)


def _header(name: bytes, mate: int, casava: bool) -> bytes:
    if casava:
        return b"@%s %d:N:0:%s" % (name, mate, INDEX)
    return b"@%s/%d" % (name, mate)


def _record(header: bytes, seq: bytes, qual: bytes) -> bytes:
    return b"%s\n%s\n+\n%s\n" % (header, seq, qual)


def _batches(pairs: Iterator[tuple[bytes, bytes]]) -> Iterator[tuple[bytes, bytes]]:
    batch1, batch2 = [], []
    for rec1, rec2 in pairs:
        batch1.append(rec1)
        batch2.append(rec2)
        if len(batch1) == BATCH_READS:
            yield b"".join(batch1), b"".join(batch2)
            batch1, batch2 = [], []
    if batch1:
        yield b"".join(batch1), b"".join(batch2)


class _GzipWriter:
    """A gzip file with a reproducible header (mtime 0, no file name)."""

    def __init__(self, path: Path, level: int):
        self.raw = open(path, "wb")
        self.gz = gzip.GzipFile(filename="", mode="wb", fileobj=self.raw, compresslevel=level,
                                mtime=0)

    def write(self, data: bytes) -> None:
        self.gz.write(data)

    def __enter__(self) -> _GzipWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.gz.close()
        self.raw.close()


def _pair_paths(directory: Path, sample: str) -> tuple[Path, Path]:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    return directory / f"{sample}_R1.fastq.gz", directory / f"{sample}_R2.fastq.gz"


Records = list[list[bytes]]   # each record as its four lines, without newlines


def records(reads: int = 1000, *, length: int = 100, seed: int = 1,
            casava: bool = True) -> tuple[Records, Records]:
    """The records of `write_fastq_pair` as editable lines, for R1 and for R2."""
    r1, r2 = [], []
    for rec1, rec2 in _read_pairs(reads, length, seed, casava):
        r1.append(rec1.split(b"\n")[:4])
        r2.append(rec2.split(b"\n")[:4])
    return r1, r2


def fastq_text(recs: Records, newline: bytes = b"\n") -> bytes:
    return b"".join(newline.join(rec) + newline for rec in recs)


def gzip_bytes(data: bytes, level: int = 6) -> bytes:
    return gzip.compress(data, compresslevel=level, mtime=0)


def bgzip_bytes(data: bytes, block: int = 65280) -> bytes:
    """BGZF as written by bgzip: one gzip member per block, each with a "BC" extra field giving
    its size, then the empty end-of-file member."""
    members = []
    for start in range(0, len(data), block):
        chunk = data[start:start + block]
        deflater = zlib.compressobj(6, zlib.DEFLATED, -15)
        body = deflater.compress(chunk) + deflater.flush()
        size = 18 + len(body) + 8
        header = b"\x1f\x8b\x08\x04\0\0\0\0\0\xff\x06\0BC\x02\0" + struct.pack("<H", size - 1)
        members.append(header + body + struct.pack("<II", zlib.crc32(chunk), len(chunk)))
    return b"".join(members) + BGZF_EOF


def gzip_bomb_bytes(reads: int = 200, length: int = 100_000) -> tuple[bytes, Records]:
    """A gzip of valid FASTQ records of `length` A's (expanding about 1,000 times), and the R2
    records that pair with it (100 bases each)."""
    _, mates = records(reads)
    deflater = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = []
    seq, qual = b"A" * length, b"I" * length
    for mate in mates:
        header = mate[0].replace(b" 2:N:", b" 1:N:")
        parts.append(deflater.compress(fastq_text([[header, seq, b"+", qual]])))
    parts.append(deflater.flush())
    return b"".join(parts), mates


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _write_pair(directory: Path, name: str, r1: bytes, r2: bytes) -> tuple[Path, Path]:
    p1, p2 = _pair_paths(directory, name)
    return _write(p1, r1), _write(p2, r2)


def _write_records(directory: Path, name: str, r1: Records, r2: Records,
                   level: int = 6) -> tuple[Path, Path]:
    return _write_pair(directory, name, gzip_bytes(fastq_text(r1), level),
                       gzip_bytes(fastq_text(r2), level))


def _name_of(header: bytes) -> str:
    return header.split()[0][1:].decode()


VARIANTS: dict[str, Callable[[Path], Variant]] = {}


def _variant(build: Callable[[Path], Variant]) -> Callable[[Path], Variant]:
    VARIANTS[build.__name__.removeprefix("_")] = build
    return build


def corrupt_variants(directory: Path) -> dict[str, Variant]:
    """Write every variant under `directory`: name -> (R1, R2, substring expected in the reason).

    An expected reason of "" means the pair must pass. "duplicate_far" is only caught when the
    validator may reopen R1 for its exact second pass."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    return {name: build(directory) for name, build in VARIANTS.items()}


@_variant
def _empty(d: Path) -> Variant:
    r1, _ = write_fastq_pair(d, "empty")
    return r1, _write(d / "empty_R2.fastq.gz", b""), "R2 is empty"


@_variant
def _not_gzip(d: Path) -> Variant:
    r1, r2 = records()
    p1, p2 = _write_pair(d, "not_gzip", fastq_text(r1), gzip_bytes(fastq_text(r2)))
    return p1, p2, "R1 is not gzip-compressed (it starts with bytes 40 49 4e ...)"


@_variant
def _truncated(d: Path) -> Variant:
    r1, r2 = records()
    data = gzip_bytes(fastq_text(r1))
    cut = data[:len(data) * 2 // 3]
    p1, p2 = _write_pair(d, "truncated", cut, gzip_bytes(fastq_text(r2)))
    return p1, p2, (f"R1 is truncated: the gzip stream ends before its end marker "
                    f"(after {len(cut):,} compressed bytes)")


@_variant
def _crc_error(d: Path) -> Variant:
    r1, r2 = records()
    data = bytearray(gzip_bytes(fastq_text(r2)))
    data[-8] ^= 0xFF   # the trailer is CRC-32 then length, little-endian
    p1, p2 = _write_pair(d, "crc_error", gzip_bytes(fastq_text(r1)), bytes(data))
    return p1, p2, "R2 is corrupt: gzip CRC check failed"


@_variant
def _trailing_garbage(d: Path) -> Variant:
    r1, r2 = records()
    data = gzip_bytes(fastq_text(r1))
    p1, p2 = _write_pair(d, "trailing_garbage", data + b"GARBAGE", gzip_bytes(fastq_text(r2)))
    return p1, p2, (f"R1 is corrupt: unexpected data follows the end of its gzip stream "
                    f"(at compressed byte {len(data):,})")


@_variant
def _gzip_bomb(d: Path) -> Variant:
    bomb, mates = gzip_bomb_bytes()
    p1, p2 = _write_pair(d, "gzip_bomb", bomb, gzip_bytes(fastq_text(mates)))
    return p1, p2, ("R1 expands more than 25 times when decompressed: "
                    "refused as a possible gzip bomb")


@_variant
def _missing_at(d: Path) -> Variant:
    r1, r2 = records()
    r1[2][0] = r1[2][0][1:]
    p1, p2 = _write_records(d, "missing_at", r1, r2)
    return p1, p2, ('record 3 of R1 does not start with "@" '
                    f'(its first line is "{r1[2][0].decode()}")')


@_variant
def _missing_plus(d: Path) -> Variant:
    r1, r2 = records()
    r1[3][2] = b"-"
    p1, p2 = _write_records(d, "missing_plus", r1, r2)
    return p1, p2, 'record 4 of R1 has no "+" line (its third line is "-")'


@_variant
def _plus_names_other_read(d: Path) -> Variant:
    r1, r2 = records()
    r1[2][2] = b"+" + r1[3][0][1:]
    p1, p2 = _write_records(d, "plus_names_other_read", r1, r2)
    return p1, p2, 'record 3 of R1 has a "+" line naming a different read than its header'


@_variant
def _no_read_name(d: Path) -> Variant:
    r1, r2 = records()
    r1[1][0] = b"@ 1:N:0:" + INDEX
    p1, p2 = _write_records(d, "no_read_name", r1, r2)
    return p1, p2, "record 2 of R1 has a header line without a read name"


@_variant
def _short_quality(d: Path) -> Variant:
    r1, r2 = records(6000)
    r2[5011][3] = r2[5011][3][:-1]
    p1, p2 = _write_records(d, "short_quality", r1, r2)
    return p1, p2, "record 5,012 of R2 has a quality string shorter than its sequence (99 vs 100)"


@_variant
def _invalid_base(d: Path) -> Variant:
    r1, r2 = records()
    seq = r1[5][1]
    r1[5][1] = seq[:10] + b"X" + seq[11:]
    p1, p2 = _write_records(d, "invalid_base", r1, r2)
    return p1, p2, ('record 6 of R1 has an invalid base "X" in its sequence '
                    "(only A, C, G, T and N are allowed)")


@_variant
def _invalid_quality(d: Path) -> Variant:
    r1, r2 = records()
    r2[6][3] = b" " + r2[6][3][1:]
    p1, p2 = _write_records(d, "invalid_quality", r1, r2)
    return p1, p2, ('record 7 of R2 has an invalid quality character " " '
                    '(only "!" to "~" are allowed)')


@_variant
def _crlf(d: Path) -> Variant:
    r1, r2 = records()
    p1, p2 = _write_pair(d, "crlf", gzip_bytes(fastq_text(r1, b"\r\n")),
                         gzip_bytes(fastq_text(r2)))
    return p1, p2, "R1 has Windows line endings (CR LF) at record 1"


@_variant
def _cut_record(d: Path) -> Variant:
    r1, r2 = records()
    text = fastq_text(r1)
    last = fastq_text(r1[-1:])
    cut = text[:len(text) - len(last)] + last[:len(r1[-1][0]) + 1 + 40]
    p1, p2 = _write_pair(d, "cut_record", gzip_bytes(cut), gzip_bytes(fastq_text(r2)))
    return p1, p2, "R1 ends in the middle of record 1,000"


@_variant
def _blank_line(d: Path) -> Variant:
    r1, r2 = records()
    text = fastq_text(r1[:8]) + b"\n" + fastq_text(r1[8:])
    p1, p2 = _write_pair(d, "blank_line", gzip_bytes(text), gzip_bytes(fastq_text(r2)))
    return p1, p2, "R1 has an empty line where record 9 should start (line 33)"


@_variant
def _count_mismatch(d: Path) -> Variant:
    r1, r2 = records(1001)
    p1, p2 = _write_records(d, "count_mismatch", r1[:1000], r2)
    return p1, p2, "R2 has 1,001 reads but R1 has 1,000"


@_variant
def _name_mismatch(d: Path) -> Variant:
    r1, r2 = records()
    r2[16][0] = r2[16][0].replace(b"INSTR:1:", b"INSTR:2:")
    p1, p2 = _write_records(d, "name_mismatch", r1, r2)
    return p1, p2, (f"record 17 names differ: R1 has {_name_of(r1[16][0])}, "
                    f"R2 has {_name_of(r2[16][0])}")


@_variant
def _swapped(d: Path) -> Variant:
    r1, r2 = records()
    p1, p2 = _write_records(d, "swapped", r2, r1)
    return p1, p2, "R1 and R2 look swapped: R1's reads are marked as read 2"


@_variant
def _swapped_slash_suffix(d: Path) -> Variant:
    r1, r2 = records(casava=False)
    p1, p2 = _write_records(d, "swapped_slash_suffix", r2, r1)
    return p1, p2, "R1 and R2 look swapped: R1's reads are marked as read 2"


@_variant
def _duplicate_adjacent(d: Path) -> Variant:
    r1, r2 = records()
    r1[10], r2[10] = list(r1[9]), list(r2[9])
    p1, p2 = _write_records(d, "duplicate_adjacent", r1, r2)
    return p1, p2, f"R1 names the same read twice ({_name_of(r1[9][0])}, records 10 and 11)"


@_variant
def _duplicate_far(d: Path) -> Variant:
    """Far enough apart (several MiB) that only the Bloom filter and the second pass see it."""
    r1, r2 = records(40_000)
    r1[39_989][0], r2[39_989][0] = r1[9][0], r2[9][0]
    p1, p2 = _write_records(d, "duplicate_far", r1, r2, level=1)
    return p1, p2, f"R1 names the same read twice ({_name_of(r1[9][0])}, records 10 and 39,990)"


@_variant
def _no_reads(d: Path) -> Variant:
    _, r2 = records()
    p1, p2 = _write_pair(d, "no_reads", gzip_bytes(b""), gzip_bytes(fastq_text(r2)))
    return p1, p2, "R1 contains no reads"


@_variant
def _same_file(d: Path) -> Variant:
    r1, r2 = write_fastq_pair(d, "same_file")
    shutil.copyfile(r1, r2)
    return r1, r2, "R1 and R2 are the same file"


@_variant
def _bgzip(d: Path) -> Variant:
    r1, r2 = records(3000)
    p1, p2 = _write_pair(d, "bgzip", bgzip_bytes(fastq_text(r1)), bgzip_bytes(fastq_text(r2)))
    return p1, p2, ""


@_variant
def _concatenated_members(d: Path) -> Variant:
    r1, r2 = records()
    p1, p2 = _write_pair(d, "concatenated_members",
                         gzip_bytes(fastq_text(r1[:400])) + gzip_bytes(fastq_text(r1[400:])),
                         gzip_bytes(fastq_text(r2)))
    return p1, p2, ""


@_variant
def _lower_case_bases(d: Path) -> Variant:
    r1, r2 = records()
    for rec in r1:
        rec[1] = rec[1].lower()
    p1, p2 = _write_records(d, "lower_case_bases", r1, r2)
    return p1, p2, ""


@_variant
def _no_final_newline(d: Path) -> Variant:
    r1, r2 = records()
    p1, p2 = _write_pair(d, "no_final_newline", gzip_bytes(fastq_text(r1)[:-1]),
                         gzip_bytes(fastq_text(r2)))
    return p1, p2, ""


@_variant
def _plus_repeats_header(d: Path) -> Variant:
    r1, r2 = records()
    for rec in r1:
        rec[2] = b"+" + rec[0][1:]
    p1, p2 = _write_records(d, "plus_repeats_header", r1, r2)
    return p1, p2, ""


@_variant
def _zero_padding(d: Path) -> Variant:
    r1, r2 = records()
    p1, p2 = _write_pair(d, "zero_padding", gzip_bytes(fastq_text(r1)) + bytes(512),
                         gzip_bytes(fastq_text(r2)))
    return p1, p2, ""
