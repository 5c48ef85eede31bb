"""Fixtures for the pipeline tests: generated data, the bin/ steps run one by one, and the local
runner. Session-scoped: the data and each chain are made once per test session."""

import os
import shutil
import time

import pytest

from nfsupport import BIN, PIPELINE, SAMPLE, pipeline_runner, run, run_local, run_pipeline

MISSING = [t for t in ("fastp", "bwa", "samtools", "bcftools", "tabix", "bgzip")
           if shutil.which(t) is None]
HAS_SNPEFF = shutil.which("java") is not None and os.path.isfile(
    os.environ.get("SNPEFF_JAR") or "/usr/share/java/snpeff.jar")


def pytest_collection_modifyitems(items):
    if MISSING:
        skip = pytest.mark.skip(reason=f"missing tools: {', '.join(MISSING)}")
        for item in items:
            if "needs_tools" in item.keywords:
                item.add_marker(skip)
    if not HAS_SNPEFF:
        skip = pytest.mark.skip(reason="snpEff (Debian package snpeff) or java missing")
        for item in items:
            if "needs_snpeff" in item.keywords:
                item.add_marker(skip)


def pytest_configure(config):
    config.addinivalue_line("markers", "needs_tools: runs fastp/bwa/samtools/bcftools")
    config.addinivalue_line("markers", "needs_snpeff: runs snpEff (java)")
    config.addinivalue_line("markers", "pipeline: runs the whole pipeline on the runner "
                            "WES_PIPELINE_RUNNER names (nextflow, or run-local by default)")


@pytest.fixture(scope="session")
def testdata(tmp_path_factory):
    out = tmp_path_factory.mktemp("testdata")
    run(["python3", PIPELINE / "testdata" / "make_testdata.py", out, "--seed", "42",
         "--sample", SAMPLE], check=True)
    return out


@pytest.fixture(scope="session")
def chain(testdata, tmp_path_factory):
    """Each bin/ step run by hand, in order, in one directory (as a user would)."""
    d = tmp_path_factory.mktemp("steps")
    t, s = testdata, SAMPLE
    ref = t / "ref.fa"
    cmds = {
        "fastp_qc": ["--sample", s, "--r1", t / f"{s}_R1.fastq.gz", "--r2", t / f"{s}_R2.fastq.gz",
                     "--threads", "2"],
        "bwa_align": ["--sample", s, "--r1", f"{s}_R1.trimmed.fastq.gz",
                      "--r2", f"{s}_R2.trimmed.fastq.gz", "--reference", ref, "--threads", "2"],
        "sort_fixmate": ["--sample", s, "--bam", f"{s}.aligned.bam", "--threads", "2"],
        "flagstat": ["--sample", s, "--bam", f"{s}.sorted.bam"],
        "mark_duplicates": ["--sample", s, "--bam", f"{s}.sorted.bam", "--threads", "2"],
        "call_variants": ["--sample", s, "--bam", f"{s}.bam", "--reference", ref,
                          "--targets", t / "targets.bed", "--threads", "2"],
        "normalise": ["--sample", s, "--vcf", f"{s}.raw.vcf.gz", "--reference", ref],
        "soft_filter": ["--sample", s, "--vcf", f"{s}.norm.vcf.gz"],
        "annotate": ["--sample", s, "--vcf", f"{s}.filtered.vcf.gz", "--reference", ref,
                     "--annotation", t / "genes.gff3"],
        "final_table": ["--sample", s, "--vcf", f"{s}.vcf.gz"],
        "qc_summary": ["--sample", s, "--fastp-json", f"{s}.fastp.json",
                       "--flagstat", f"{s}.flagstat.txt", "--markdup", f"{s}.markdup.txt",
                       "--bam", f"{s}.bam", "--targets", t / "targets.bed",
                       "--annotation", t / "genes.gff3",
                       "--canonical", t / "canonical_transcripts.txt",
                       "--min-q30-rate", "0.8", "--min-mapped-pct", "95",
                       "--max-duplication-pct", "20", "--min-mean-depth", "50",
                       "--min-pct-targets-20x", "90", "--min-pct-bases-20x", "90"],
        "write_metadata": ["--sample", s, "--runner", "local", "--reference", ref,
                           "--annotation", t / "genes.gff3",
                           "--input", f"r1={t / f'{s}_R1.fastq.gz'}",
                           "--output", f"vcf={s}.vcf.gz", "--output", f"table={s}_Final_.txt"],
    }
    results = {}
    for script, args in cmds.items():
        results[script] = run([BIN / script] + args, cwd=d)
        if results[script].returncode != 0:
            break
    return d, results


@pytest.fixture(scope="session")
def local_run(testdata, tmp_path_factory):
    base = tmp_path_factory.mktemp("local")
    res = run_local(testdata, base / "out", base / "work")
    assert res.returncode == 0, res.stdout + res.stderr
    return base / "out", base / "work", res


@pytest.fixture(scope="session")
def snpeff_db(testdata, tmp_path_factory):
    """The generated genome's snpEff database, built once (with HOME elsewhere, to show that
    ~/.snpEff is not used); (path to snpEffectPredictor.bin, the result, seconds, HOME)."""
    out = tmp_path_factory.mktemp("snpeff_db")
    home = tmp_path_factory.mktemp("home")
    started = time.monotonic()
    res = run([BIN / "build_snpeff_db", "--reference", testdata / "ref.fa",
               "--annotation", testdata / "genes.gff3", "--outdir", out, "--memory", "1g"],
              env={"HOME": str(home)})
    return out / "snpEffectPredictor.bin", res, time.monotonic() - started, home


@pytest.fixture(scope="session")
def local_run_annotated(local_run, snpeff_db, testdata, tmp_path_factory):
    """local_run again with every annotation source (--resume: the steps before ANNOTATE are
    the same tasks and come from the cache)."""
    _, work, _ = local_run
    db, built, _, home = snpeff_db
    assert built.returncode == 0, built.stderr
    base = tmp_path_factory.mktemp("local_annotated")
    t = testdata
    res = run_local(t, base / "out", work, "--resume", "--snpeff_db", db,
                    "--canonical", t / "canonical_transcripts.txt",
                    "--gnomad", t / "gnomad.vcf.gz", "--gnomad_version", "4.1-sim",
                    "--clinvar", t / "clinvar.vcf.gz", "--clinvar-version", "20240512-sim",
                    env={"SNPEFF_MEMORY": "1g", "HOME": str(home)})
    assert res.returncode == 0, res.stdout + res.stderr
    return base / "out", res


@pytest.fixture(scope="session")
def failed_then_resumed(testdata, tmp_path_factory):
    """A fresh run made to fail at CALL_VARIANTS (WES_FAIL_STEP, honoured by bin/step_hook in
    every task), then run again with --resume: the second run of the whole chain."""
    base = tmp_path_factory.mktemp("resume")
    env = {"WES_FAIL_STEP": "CALL_VARIANTS:3"}
    failed = run_local(testdata, base / "out", base / "work", env=env)
    failed_trace = (base / "out" / "pipeline_info" / "trace.txt").read_text()
    resumed = run_local(testdata, base / "out", base / "work", "--resume",
                        env={"WES_FAIL_STEP": ""})
    return base / "out", failed, failed_trace, resumed


@pytest.fixture(scope="session")
def runner():
    return pipeline_runner()


@pytest.fixture(scope="session")
def pipeline_run(runner, request, tmp_path_factory):
    """The whole chain on `runner` (on run-local, the same run as local_run): (out, result)."""
    if runner == "local":
        out, _, res = request.getfixturevalue("local_run")
        return out, res
    base = tmp_path_factory.mktemp("pipeline")
    res = run_pipeline(runner, request.getfixturevalue("testdata"), base / "out", base / "work")
    assert res.returncode == 0, res.stdout[-5000:] + res.stderr[-5000:]
    return base / "out", res


@pytest.fixture(scope="session")
def pipeline_failed_then_resumed(runner, request, tmp_path_factory):
    """A run made to fail at CALL_VARIANTS through bin/step_hook, then resumed, on `runner`
    (on run-local, failed_then_resumed): (out, failed result, its trace text, resumed result)."""
    if runner == "local":
        return request.getfixturevalue("failed_then_resumed")
    testdata = request.getfixturevalue("testdata")
    base = tmp_path_factory.mktemp("pipeline-resume")
    failed = run_pipeline(runner, testdata, base / "out", base / "work",
                          env={"WES_FAIL_STEP": "CALL_VARIANTS:3"})
    failed_trace = (base / "out" / "pipeline_info" / "trace.txt").read_text()
    resumed = run_pipeline(runner, testdata, base / "out", base / "work", "--resume",
                           env={"WES_FAIL_STEP": ""})
    return base / "out", failed, failed_trace, resumed


def step_ok(chain, script):
    d, results = chain
    res = results.get(script)
    assert res is not None, f"{script} did not run (an earlier step failed)"
    assert res.returncode == 0, f"{script} failed:\n{res.stderr[-3000:]}"
    return d


@pytest.fixture
def ok(chain):
    return lambda script: step_ok(chain, script)


@pytest.fixture(autouse=True)
def _no_injected_failure(monkeypatch):
    for name in ("WES_FAIL_STEP", "WES_LOCAL_FAIL_STEP", "WES_STEP_DELAY", "WES_LOCAL_STEP_DELAY"):
        monkeypatch.delenv(name, raising=False)

