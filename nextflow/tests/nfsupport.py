"""Helpers shared by the pipeline tests (standard library only)."""

import gzip
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

PIPELINE = Path(__file__).resolve().parents[1]
BIN = PIPELINE / "bin"
FIXTURES = PIPELINE.parent / "tests" / "fixtures" / "nextflow-24.10.9"   # real Nextflow output
SAMPLE = "TEST1"

# Nextflow's default trace fields (the captured fixtures), and those nextflow.config asks for
# (run-local writes them too): the default ones and each task's start and complete.
DEFAULT_TRACE_HEADER = ["task_id", "hash", "native_id", "name", "status", "exit", "submit",
                        "duration", "realtime", "%cpu", "peak_rss", "peak_vmem", "rchar", "wchar"]
TRACE_HEADER = DEFAULT_TRACE_HEADER[:7] + ["start", "complete"] + DEFAULT_TRACE_HEADER[7:]
MOMENT = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}"
DURATION = r"(\d+ms|\d+(\.\d)?s|(\d+d ?)?(\d+h ?)?(\d+m ?)?(\d+s)?)"
SIZE = r"(0|\d+(\.\d)? (B|KB|MB|GB|TB|PB))"
TRACE_PATTERNS = {
    "task_id": r"\d+", "hash": r"[0-9a-f]{2}/[0-9a-f]{6}", "native_id": r"\d+",
    "name": r"[A-Z][A-Z0-9_]*( \(.+\))?", "status": r"COMPLETED|FAILED|CACHED|ABORTED",
    "exit": r"-?\d+|-", "submit": MOMENT, "start": MOMENT + "|-", "complete": MOMENT + "|-",
    "duration": DURATION + "|-", "realtime": DURATION + "|-", "%cpu": r"\d+\.\d%|-",
    "peak_rss": SIZE + "|-", "peak_vmem": SIZE + "|-", "rchar": SIZE + "|-", "wchar": SIZE + "|-",
}


def steps():
    return json.loads((PIPELINE / "steps.json").read_text())["steps"]


def run(cmd, cwd=None, env=None, check=False):
    res = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True,
                         env={**os.environ, **(env or {})})
    if check and res.returncode != 0:
        raise AssertionError(f"{cmd} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
    return res


def parse_trace(path):
    """Parse a Nextflow trace file strictly; return its rows as dicts."""
    lines = Path(path).read_text().splitlines()
    header = lines[0].split("\t")
    assert header in (TRACE_HEADER, DEFAULT_TRACE_HEADER), \
        f"bad trace header in {path}: {lines[0]!r}"
    rows = []
    for n, line in enumerate(lines[1:], start=2):
        fields = line.split("\t")
        assert len(fields) == len(header), f"{path}:{n}: {len(fields)} fields"
        row = dict(zip(header, fields))
        for key, pattern in TRACE_PATTERNS.items():
            assert key not in row or re.fullmatch(pattern, row[key]), \
                f"{path}:{n}: {key}={row[key]!r}"
        if row["status"] == "FAILED":
            assert all(row[k] == "-" for k in ("%cpu", "peak_rss", "peak_vmem", "rchar", "wchar"))
        rows.append(row)
    return rows


def fasta_sequences(path) -> dict[str, str]:
    """{name: sequence} of a FASTA file."""
    seqs, name = {}, None
    for line in open(path).read().splitlines():
        if line.startswith(">"):
            name = line[1:]
            seqs[name] = []
        else:
            seqs[name].append(line)
    return {k: "".join(v) for k, v in seqs.items()}


def vcf_records(path):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt") as fh:
        for line in fh:
            if not line.startswith("#"):
                f = line.rstrip("\n").split("\t")
                yield {"chrom": f[0], "pos": int(f[1]), "ref": f[3], "alt": f[4], "qual": f[5],
                       "filter": f[6], "info": f[7], "format": f[8:]}


def is_snv(rec):
    return len(rec["ref"]) == 1 and len(rec["alt"]) == 1


def benchmark(truth_vcf, calls_vcf, filters=("PASS",)):
    """Recall/precision on normalised CHROM/POS/REF/ALT for SNVs and indels."""
    truth = {(r["chrom"], r["pos"], r["ref"], r["alt"]): r for r in vcf_records(truth_vcf)}
    calls = {(r["chrom"], r["pos"], r["ref"], r["alt"]): r for r in vcf_records(calls_vcf)
             if r["filter"] in filters}
    out = {}
    for kind in ("snv", "indel"):
        want = {k for k, r in truth.items() if is_snv(r) == (kind == "snv")}
        got = {k for k, r in calls.items() if is_snv(r) == (kind == "snv")}
        tp = len(want & got)
        out[kind] = {"truth": len(want), "calls": len(got), "tp": tp,
                     "recall": tp / len(want) if want else 1.0,
                     "precision": tp / len(got) if got else 1.0,
                     "missed": sorted(want - got), "false": sorted(got - want)}
    return out


def read_table(path):
    lines = Path(path).read_text().splitlines()
    header = lines[0].split("\t")
    return header, [dict(zip(header, l.split("\t"))) for l in lines[1:]]


def run_local(testdata, outdir, workdir, *extra, env=None):
    t = testdata
    return run([BIN / "run-local", "--sample", SAMPLE, "--r1", t / f"{SAMPLE}_R1.fastq.gz",
                "--r2", t / f"{SAMPLE}_R2.fastq.gz", "--reference", t / "ref.fa",
                "--targets", t / "targets.bed", "--annotation", t / "genes.gff3",
                "--outdir", outdir, "--work-dir", workdir, *extra], env=env)


def pipeline_runner() -> str:
    """The runner of the `pipeline` tests: WES_PIPELINE_RUNNER=nextflow (a `nextflow` on PATH is
    then required), `auto` (Nextflow when present), else run-local."""
    wanted = os.environ.get("WES_PIPELINE_RUNNER") or "local"
    present = bool(shutil.which("nextflow") and shutil.which("java"))
    if wanted == "auto":
        return "nextflow" if present else "local"
    if wanted == "nextflow" and not present:
        raise AssertionError("WES_PIPELINE_RUNNER=nextflow, but there is no `nextflow` (or no "
                             "`java`) on PATH")
    return wanted


def run_pipeline(runner, testdata, outdir, workdir, *extra, env=None):
    """The whole pipeline on the generated data with either runner, the same arguments as
    run_local (`--resume`, params as --name or --name-with-dashes). Nextflow runs in the work
    directory's parent, so that runs sharing a work directory share its -resume history."""
    if runner == "local":
        return run_local(testdata, outdir, workdir, *extra, env=env)
    args = [("-resume" if x == "--resume" else
             re.sub(r"^--([a-z0-9-]+)$", lambda m: "--" + m.group(1).replace("-", "_"), str(x)))
            for x in extra]
    t = testdata
    Path(workdir).parent.mkdir(parents=True, exist_ok=True)
    return run(["nextflow", "run", PIPELINE / "main.nf", "-ansi-log", "false",
                "-profile", os.environ.get("WES_NEXTFLOW_PROFILE") or "standard",
                "-work-dir", workdir, "--sample", SAMPLE,
                "--r1", t / f"{SAMPLE}_R1.fastq.gz", "--r2", t / f"{SAMPLE}_R2.fastq.gz",
                "--reference", t / "ref.fa", "--targets", t / "targets.bed",
                "--annotation", t / "genes.gff3", "--outdir", outdir, *args],
               cwd=Path(workdir).parent, env=env)
