import gzip
import hashlib
import re
import tracemalloc

import pytest

from tests import fastq_data
from jobs.intake.fastq import PairReport, validate_pair
from jobs.intake.fastq_gzip import CHUNK_BYTES, MIB, Limits


@pytest.fixture(scope="module")
def variants(tmp_path_factory):
    return fastq_data.corrupt_variants(tmp_path_factory.mktemp("variants"))


def check(r1_path, r2_path, *, limits=Limits(), reopen=True, reopened=None) -> PairReport:
    """Validate two files; `reopen` opens them again by label and notes each call."""
    def reopen_file(which):
        if reopened is not None:
            reopened.append(which)
        return open({"R1": r1_path, "R2": r2_path}[which], "rb")

    with open(r1_path, "rb") as r1, open(r2_path, "rb") as r2:
        return validate_pair(r1, r2, limits=limits, reopen=reopen_file if reopen else None)


def assert_rejected(report, problem_file, pattern):
    assert not report.ok
    assert report.problem_file == problem_file
    assert re.fullmatch(pattern, report.reason), report.reason


def rejected_variant(variants, name, problem_file, pattern, **options):
    r1, r2, _ = variants[name]
    assert_rejected(check(r1, r2, **options), problem_file, pattern)


def assert_variant_passes(variants, name):
    r1, r2, _ = variants[name]
    report = check(r1, r2)
    assert report.ok, report.reason
    assert (report.reason, report.problem_file) == ("", "")
    return report


def q30_fraction(path):
    quals = b"".join(gzip.decompress(path.read_bytes()).split(b"\n")[3::4])
    return sum(q >= ord("?") for q in quals) / len(quals)


def test_it_passes_a_valid_pair_with_exact_stats(tmp_path):
    r1, r2 = fastq_data.write_fastq_pair(tmp_path, reads=1000, length=100)
    report = check(r1, r2)
    assert report.ok and report.reason == "" and report.problem_file == ""
    for path, stats in ((r1, report.r1), (r2, report.r2)):
        data = path.read_bytes()
        assert stats.sha256 == hashlib.sha256(data).hexdigest()
        assert stats.compressed_bytes == len(data)
        assert stats.uncompressed_bytes == len(gzip.decompress(data))
        assert (stats.read_count, stats.base_count) == (1000, 100_000)
        assert (stats.min_length, stats.max_length, stats.mean_length) == (100, 100, 100.0)
        assert stats.q30_fraction == pytest.approx(q30_fraction(path))
        assert 0.8 < stats.q30_fraction < 0.95


def test_it_passes_names_with_slash_mate_suffixes(tmp_path):
    r1, r2 = fastq_data.write_fastq_pair(tmp_path, casava=False)
    assert gzip.decompress(r1.read_bytes()).split(b"\n")[0].endswith(b"/1")
    assert check(r1, r2).ok


def test_it_passes_a_bgzip_file_of_many_members(variants):
    report = assert_variant_passes(variants, "bgzip")
    assert report.r1.read_count == 3000


def test_it_passes_concatenated_gzip_members(variants):
    assert assert_variant_passes(variants, "concatenated_members").r1.read_count == 1000


def test_it_passes_lower_case_bases(variants):
    assert_variant_passes(variants, "lower_case_bases")


def test_it_passes_a_file_without_a_final_newline(variants):
    assert assert_variant_passes(variants, "no_final_newline").r1.read_count == 1000


def test_it_passes_plus_lines_that_repeat_the_header(variants):
    assert_variant_passes(variants, "plus_repeats_header")


def test_it_passes_zero_padding_after_the_gzip_stream(variants):
    assert_variant_passes(variants, "zero_padding")


def test_it_rejects_an_empty_file(variants):
    rejected_variant(variants, "empty", "R2", "R2 is empty")


def test_it_rejects_a_file_that_is_not_gzip(variants):
    rejected_variant(variants, "not_gzip", "R1",
                     r"R1 is not gzip-compressed \(it starts with bytes 40 49 4e \.\.\.\)")


def test_it_rejects_a_truncated_gzip_with_its_size(variants):
    size = variants["truncated"][0].stat().st_size
    rejected_variant(variants, "truncated", "R1",
                     r"R1 is truncated: the gzip stream ends before its end marker "
                     rf"\(after {size:,} compressed bytes\)")


def test_it_rejects_a_crc_error(variants):
    rejected_variant(variants, "crc_error", "R2", "R2 is corrupt: gzip CRC check failed")


def test_it_rejects_data_after_the_gzip_stream(variants):
    size = variants["trailing_garbage"][0].stat().st_size - len(b"GARBAGE")
    rejected_variant(variants, "trailing_garbage", "R1",
                     r"R1 is corrupt: unexpected data follows the end of its gzip stream "
                     rf"\(at compressed byte {size:,}\)")


def test_it_refuses_a_gzip_bomb_and_stops_early(variants):
    r1, r2, _ = variants["gzip_bomb"]
    report = check(r1, r2)
    assert_rejected(report, "R1", "R1 expands more than 25 times when decompressed: "
                                  "refused as a possible gzip bomb")
    assert report.r1.uncompressed_bytes <= 24 * MIB < 40_000_000   # 40 MB inside


def test_it_refuses_a_file_over_the_size_cap(tmp_path):
    r1, r2 = fastq_data.write_fastq_pair(tmp_path)
    report = check(r1, r2, limits=Limits(max_uncompressed_bytes=10_000))
    assert_rejected(report, "R1", "R1 decompresses to more than 10,000 bytes: "
                                  "refused as a possible gzip bomb")


def test_it_reads_streams_in_bounded_chunks(tmp_path):
    class Stream:
        """A file that fails the test if asked for everything at once."""

        def __init__(self, file):
            self.file = file

        def read(self, size=-1):
            assert 0 < size <= CHUNK_BYTES
            return self.file.read(size)

    r1, r2 = fastq_data.write_fastq_pair(tmp_path, reads=20_000)
    with open(r1, "rb") as f1, open(r2, "rb") as f2:
        assert validate_pair(Stream(f1), Stream(f2)).ok


def test_it_rejects_a_record_without_at_sign(variants):
    rejected_variant(variants, "missing_at", "R1",
                     r'record 3 of R1 does not start with "@" '
                     r'\(its first line is "INSTR:1:FC:1:1101:\d+:1002 1:N:0:ACGTACGT"\)')


def test_it_rejects_a_record_without_plus_line(variants):
    rejected_variant(variants, "missing_plus", "R1",
                     r'record 4 of R1 has no "\+" line \(its third line is "-"\)')


def test_it_rejects_a_plus_line_naming_another_read(variants):
    rejected_variant(variants, "plus_names_other_read", "R1",
                     r'record 3 of R1 has a "\+" line naming a different read than its header')


def test_it_rejects_a_header_without_a_name(variants):
    rejected_variant(variants, "no_read_name", "R1",
                     "record 2 of R1 has a header line without a read name")


def test_it_rejects_a_quality_shorter_than_its_sequence(variants):
    rejected_variant(variants, "short_quality", "R2",
                     r"record 5,012 of R2 has a quality string shorter than its sequence "
                     r"\(99 vs 100\)")


def test_it_rejects_an_invalid_base(variants):
    rejected_variant(variants, "invalid_base", "R1",
                     r'record 6 of R1 has an invalid base "X" in its sequence '
                     r"\(only A, C, G, T and N are allowed\)")


def test_it_rejects_an_invalid_quality_character(variants):
    rejected_variant(variants, "invalid_quality", "R2",
                     r'record 7 of R2 has an invalid quality character " " '
                     r'\(only "!" to "~" are allowed\)')


def test_it_rejects_windows_line_endings(variants):
    rejected_variant(variants, "crlf", "R1", r"R1 has Windows line endings \(CR LF\) at record 1")


def test_it_rejects_a_record_cut_off_at_the_end(variants):
    rejected_variant(variants, "cut_record", "R1", "R1 ends in the middle of record 1,000")


def test_it_rejects_an_empty_line_between_records(variants):
    rejected_variant(variants, "blank_line", "R1",
                     r"R1 has an empty line where record 9 should start \(line 33\)")


def test_it_rejects_a_read_longer_than_the_limit(tmp_path):
    r1, r2 = fastq_data.write_fastq_pair(tmp_path)
    report = check(r1, r2, limits=Limits(max_read_length=50))
    assert_rejected(report, "R1",
                    "record 1 of R1 has a read of 100 bases, longer than the 50 allowed")


def test_it_stops_at_a_line_longer_than_any_read(tmp_path):
    """A line is never held whole once it is longer than a read may be."""
    r1 = tmp_path / "long_R1.fastq.gz"
    r1.write_bytes(gzip.compress(b"@r1 1:N:0:A\n" + b"ACGT" * 5_000_000, mtime=0))
    _, r2 = fastq_data.write_fastq_pair(tmp_path, reads=1)
    report = check(r1, r2, limits=Limits(max_read_length=1000))
    assert_rejected(report, "R1", "record 1 of R1 has a read longer than the 1,000 bases allowed")
    assert report.r1.uncompressed_bytes < 20_000_000


def test_it_rejects_a_file_without_reads(variants):
    rejected_variant(variants, "no_reads", "R1", "R1 contains no reads")


def test_it_rejects_different_read_counts_with_both_counts(variants):
    rejected_variant(variants, "count_mismatch", "pair", "R2 has 1,001 reads but R1 has 1,000")


def test_it_rejects_names_that_do_not_pair(variants):
    rejected_variant(variants, "name_mismatch", "pair",
                     r"record 17 names differ: R1 has INSTR:1:FC:1:1101:(\d+):1016, "
                     r"R2 has INSTR:2:FC:1:1101:\1:1016")


def test_it_rejects_swapped_files_by_casava_comment(variants):
    rejected_variant(variants, "swapped", "pair",
                     "R1 and R2 look swapped: R1's reads are marked as read 2")


def test_it_rejects_swapped_files_by_slash_suffix(variants):
    rejected_variant(variants, "swapped_slash_suffix", "pair",
                     "R1 and R2 look swapped: R1's reads are marked as read 2")


def test_it_rejects_the_same_file_twice(variants):
    rejected_variant(variants, "same_file", "pair", "R1 and R2 are the same file")


def test_it_rejects_adjacent_duplicate_names_without_a_second_pass(variants):
    reopened = []
    rejected_variant(variants, "duplicate_adjacent", "R1",
                     r"R1 names the same read twice \(INSTR:1:FC:1:1101:\d+:1009, "
                     r"records 10 and 11\)", reopen=False, reopened=reopened)
    assert reopened == []


def test_it_confirms_far_apart_duplicate_names_in_a_second_pass(variants):
    reopened = []
    rejected_variant(variants, "duplicate_far", "R1",
                     r"R1 names the same read twice \(INSTR:1:FC:1:1101:\d+:1009, "
                     r"records 10 and 39,990\)", reopened=reopened)
    assert reopened == ["R1"]


def test_it_reports_only_certain_duplicates_without_reopen(variants):
    """A Bloom filter hit alone is never enough to reject."""
    r1, r2, _ = variants["duplicate_far"]
    assert check(r1, r2, reopen=False).ok


def test_it_passes_a_good_file_despite_bloom_false_positives(tmp_path):
    """An 8-byte filter flags nearly every name; the exact second pass clears them all."""
    r1, r2 = fastq_data.write_fastq_pair(tmp_path, reads=5000)
    reopened = []
    report = check(r1, r2, limits=Limits(duplicate_filter_bytes=8), reopened=reopened)
    assert report.ok, report.reason
    assert reopened == ["R1"]


def test_it_still_finds_a_real_duplicate_with_a_saturated_filter(variants):
    rejected_variant(variants, "duplicate_far", "R1",
                     r"R1 names the same read twice \(.*, records 10 and 39,990\)",
                     limits=Limits(duplicate_filter_bytes=8))


def test_it_lists_variants_whose_expected_reasons_match(variants):
    for name, (r1, r2, expected) in variants.items():
        report = check(r1, r2)
        if expected:
            assert not report.ok and expected in report.reason, (name, report.reason)
        else:
            assert report.ok, (name, report.reason)


def test_it_writes_the_same_bytes_for_the_same_arguments(tmp_path):
    first = fastq_data.write_fastq_pair(tmp_path / "a", "S1", reads=5000, seed=7)
    second = fastq_data.write_fastq_pair(tmp_path / "b", "S1", reads=5000, seed=7)
    other = fastq_data.write_fastq_pair(tmp_path / "c", "S1", reads=5000, seed=8)
    for a, b, c in zip(first, second, other):
        assert a.read_bytes() == b.read_bytes() != c.read_bytes()
    assert [p.name for p in first] == ["S1_R1.fastq.gz", "S1_R2.fastq.gz"]


def test_it_writes_a_pair_of_at_least_the_asked_size(tmp_path):
    r1, r2 = fastq_data.fastq_pair_of_size(tmp_path, "big", 3_000_000)
    assert r1.stat().st_size >= 3_000_000
    report = check(r1, r2)
    assert report.ok, report.reason
    assert report.r1.read_count == report.r2.read_count > 10_000


def test_it_keeps_memory_bounded_on_a_large_pair(tmp_path):
    """Peak traced memory, less the Bloom filter, stays under 64 MiB while 2 x ~80 MB is read.

    Per file at most four 4 MiB decompressed pieces are alive (two queued, one being produced,
    one being checked), plus the split lines of one piece (~2x its size with object headers) and
    the joined sequences and qualities (~1x): about 25 MiB each, whatever the file size.
    """
    r1, r2 = fastq_data.fastq_pair_of_size(tmp_path, "mem", 30_000_000)
    filter_bytes = 1 * MIB
    tracemalloc.start()
    try:
        report = check(r1, r2, limits=Limits(duplicate_filter_bytes=filter_bytes))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.ok, report.reason
    assert report.r1.read_count > 200_000
    assert report.r1.uncompressed_bytes + report.r2.uncompressed_bytes > 2 * 64 * MIB
    assert peak - filter_bytes < 64 * MIB
