"""The first step refuses damaged FASTQ on its own (outside the portal too): fastp alone exits 0
on a truncated gzip, processing only the reads before the break, and on a malformed record."""

import gzip

import pytest

from nfsupport import BIN, SAMPLE, run

pytestmark = pytest.mark.needs_tools


def lines_of(path):
    return gzip.decompress(path.read_bytes()).decode().splitlines(keepends=True)


def fastp_qc(testdata, tmp_path, r1, r2=None):
    r2 = r2 or testdata / f"{SAMPLE}_R2.fastq.gz"
    return run([BIN / "fastp_qc", "--sample", "S", "--r1", r1, "--r2", r2,
                "--outdir", tmp_path / "out"])


def test_it_fails_on_a_truncated_gzip(testdata, tmp_path):
    whole = (testdata / f"{SAMPLE}_R1.fastq.gz").read_bytes()
    cut = tmp_path / "cut_R1.fastq.gz"
    cut.write_bytes(whole[: len(whole) // 8])
    res = fastp_qc(testdata, tmp_path, cut)
    assert res.returncode == 65, res.stderr[-2000:]
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith(f"fastp_qc: error: damaged input: R1 {cut}: the gzip stream is damaged "
                           "or truncated"), last
    assert "unexpected end of file" in last


@pytest.mark.parametrize("line, change, message", [
    (4 * 500 + 1, lambda text: text[1:], "record 501 (line 2001): the header does not start with @"),
    (4 * 500 + 3, lambda text: "=" + text[1:], "record 501 (line 2003): the separator line does "
                                               "not start with +"),
    (4 * 500 + 4, lambda text: text[2:], "record 501 (line 2004): 100 bases but 98 quality "
                                         "values"),
])
def test_it_fails_on_a_malformed_record(testdata, tmp_path, line, change, message):
    lines = lines_of(testdata / f"{SAMPLE}_R1.fastq.gz")
    assert len(lines[4 * 500 + 1]) == 101       # record 501 has 100 bases (and its newline)
    lines[line - 1] = change(lines[line - 1])
    bad = tmp_path / "bad_R1.fastq.gz"
    bad.write_bytes(gzip.compress("".join(lines).encode()))
    res = fastp_qc(testdata, tmp_path, bad)
    assert res.returncode == 65, res.stderr[-2000:]
    assert res.stderr.strip().splitlines()[-1] == \
        f"fastp_qc: error: damaged input: R1 {bad}: {message}"


def test_it_fails_when_the_reads_do_not_pair_up(testdata, tmp_path):
    lines = lines_of(testdata / f"{SAMPLE}_R2.fastq.gz")
    short = tmp_path / "short_R2.fastq.gz"
    short.write_bytes(gzip.compress("".join(lines[:4000]).encode()))
    res = fastp_qc(testdata, tmp_path, testdata / f"{SAMPLE}_R1.fastq.gz", short)
    assert res.returncode == 65, res.stderr[-2000:]
    assert res.stderr.strip().splitlines()[-1] == (
        f"fastp_qc: error: damaged input: R1 has {len(lines) // 4} reads but R2 has 1000: the "
        "files are not a pair, or one is incomplete")


def test_it_fails_on_a_record_cut_short_at_the_end(testdata, tmp_path):
    lines = lines_of(testdata / f"{SAMPLE}_R1.fastq.gz")
    cut = tmp_path / "end_R1.fastq"          # plain FASTQ is accepted too
    cut.write_text("".join(lines[:-2]))
    res = fastp_qc(testdata, tmp_path, cut)
    assert res.returncode == 65, res.stderr[-2000:]
    assert res.stderr.strip().splitlines()[-1].endswith(
        f"the file ends inside record {len(lines) // 4} (line {len(lines) - 2})")
