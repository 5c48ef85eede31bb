"""The reference bundle (jobs/runs/reference.py, `manage.py load_reference`) against the real S3
server: what a load builds and uploads, what a rerun skips, what staging checks, and which
pipeline parameters a run gets from it."""

import json
import re
import sys
import time
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from jobs.models import Job, Sample
from jobs.runs import reference
from jobs.runs.reference import ReferenceError, reference_file, reference_load, reference_stage
from jobs.runs.runner import PipelineRun
from storage import keys, s3, versions
from storage.buckets import bucket_name
from storage.models import StoredObject
from tests.reference_bundle import copy_bundle

pytestmark = [pytest.mark.django_db, pytest.mark.s3]

BWA = ("amb", "ann", "bwt", "pac", "sa")
FULL_ROLES = {"reference", "reference_fai", *(f"bwa_{e}" for e in BWA), "targets", "annotation",
              "snpeff_db", "canonical_transcripts", "gnomad", "gnomad_index", "clinvar",
              "clinvar_index", "hpo"}


@pytest.fixture
def bundle(tmp_path, testdata):
    return copy_bundle(testdata, tmp_path / "bundle")


def declare(bundle: Path, **changes) -> None:
    data = json.loads((bundle / "bundle.json").read_text())
    for source, entry in changes.pop("sources", {}).items():
        if entry is None:
            data["sources"].pop(source)
        else:
            data["sources"][source] = entry
    data.update(changes)
    (bundle / "bundle.json").write_text(json.dumps(data))


def stored(build: str) -> dict[str, tuple]:
    """Every object of the build: (last modified, ETag) by key."""
    return {v["Key"]: (v["LastModified"], v["ETag"])
            for v in versions.list_versions(bucket_name("reference"), f"{build}/")}


def test_it_loads_a_declared_bundle_with_built_indexes_and_sources(provisioned_s3, bundle,
                                                                  capsys):
    call_command("load_reference", "wes-mini", str(bundle))

    manifest = json.loads(s3.open_object(bucket_name("reference"), "wes-mini/manifest.json").read())
    assert manifest["layout"] == "bundle.json"
    assert set(manifest["files"]) == FULL_ROLES
    files = manifest["files"]
    assert files["reference_fai"]["name"] == "ref.fa.fai"
    assert {files[f"bwa_{e}"]["name"] for e in BWA} == {f"ref.fa.{e}" for e in BWA}
    assert files["snpeff_db"]["name"] == "snpEffectPredictor.bin"
    assert files["gnomad_index"]["name"] == "gnomad.vcf.gz.tbi"
    built = bundle / ".load_reference"
    for role, entry in files.items():
        local = bundle / entry["name"] if (bundle / entry["name"]).exists() \
            else built / entry["name"]
        assert entry["size"] == local.stat().st_size
        assert entry["sha256"] == reference.sha256_of(local)
        info = s3.object_info(bucket_name("reference"), f"wes-mini/{entry['name']}")
        assert info["size"] == entry["size"] and info["metadata"]["sha256"] == entry["sha256"]
    assert manifest["sources"] == {
        "gnomad": {"name": "gnomAD (simulated)", "version": "4.1-sim", "file": "gnomad.vcf.gz",
                   "sha256": files["gnomad"]["sha256"]},
        "clinvar": {"name": "ClinVar (simulated)", "version": "20240512-sim",
                    "file": "clinvar.vcf.gz", "sha256": files["clinvar"]["sha256"]},
        "hpo": {"name": "HPO (simulated)", "version": "2024-04-26-sim",
                "file": "phenotype_to_genes.txt", "sha256": files["hpo"]["sha256"]}}
    # The .fai is samtools' own, the index bwa's (a 3-contig genome: three .fai lines).
    assert len((built / "ref.fa.fai").read_text().splitlines()) == 3
    assert (built / "snpEffectPredictor.bin").stat().st_size > 1000

    out = capsys.readouterr().out
    for role, entry in files.items():
        assert f"{role} " in out and entry["sha256"] in out and f"{entry['size']:,}" in out
    assert "gnomAD (simulated) 4.1-sim" in out and "ClinVar (simulated) 20240512-sim" in out
    live = StoredObject.objects.filter(bucket=bucket_name("reference"), deleted_at__isnull=True)
    assert live.count() == len(FULL_ROLES) + 1                       # + the manifest


def test_a_rerun_uploads_nothing_and_builds_nothing(provisioned_s3, bundle, capsys):
    call_command("load_reference", "wes-mini", str(bundle))
    built = sorted((bundle / ".load_reference").iterdir())
    mtimes = {p.name: p.stat().st_mtime_ns for p in built}
    objects = stored("wes-mini")
    rows = StoredObject.objects.count()
    capsys.readouterr()
    time.sleep(1.1)                  # a re-upload would carry a later Last-Modified

    call_command("load_reference", "wes-mini", str(bundle))
    assert stored("wes-mini") == objects
    assert {p.name: p.stat().st_mtime_ns for p in sorted((bundle / ".load_reference")
                                                           .iterdir())} == mtimes
    assert StoredObject.objects.count() == rows
    out = capsys.readouterr().out
    assert "uploaded:" not in out and "building" not in out
    assert out.count("up to date") == 3             # .fai, bwa index, snpEff database

    # A changed annotation rebuilds the snpEff database only; snpEff builds the same bytes from
    # the same gene models, so only the annotation and the manifest (its new SHA-256) go up.
    gff = bundle / "genes.gff3"
    gff.write_text(gff.read_text() + "# a comment\n")
    time.sleep(1.1)
    call_command("load_reference", "wes-mini", str(bundle))
    out = capsys.readouterr().out
    assert re.search(r"snpeff_db +built in", out) and re.search(r"bwa_index +up to date", out)
    assert re.search(r"snpeff_db +already stored", out)
    after = stored("wes-mini")
    assert {key for key in after if after[key] != objects[key]} == {
        "wes-mini/genes.gff3", "wes-mini/manifest.json"}


def test_a_load_killed_midway_is_resumed(provisioned_s3, bundle):
    """Files uploaded before the load died are kept; the manifest appears only at the end."""
    files = reference.bundle_read(bundle).files
    digest = reference.sha256_of(files["reference"])
    s3.upload_path(bucket_name("reference"), "wes-mini/ref.fa", files["reference"],
                   metadata={"sha256": digest}, encrypt=False)
    before = stored("wes-mini")
    assert set(before) == {"wes-mini/ref.fa"}       # no manifest: the build is not usable yet
    with pytest.raises(ReferenceError, match="is not in bucket"):
        reference_stage(build="wes-mini", cache_dir=bundle.parent / "cache")

    reference_load(build="wes-mini", directory=bundle)
    assert stored("wes-mini")["wes-mini/ref.fa"] == before["wes-mini/ref.fa"]


def test_a_declared_source_that_is_missing_fails_naming_it(provisioned_s3, bundle):
    (bundle / "clinvar.vcf.gz").unlink()
    with pytest.raises(CommandError, match=r"source 'clinvar' as clinvar.vcf.gz, but .* does "
                                           "not exist"):
        call_command("load_reference", "wes-mini", str(bundle))
    assert stored("wes-mini") == {}                 # checked before anything is uploaded


def test_a_canonical_list_from_another_release_is_refused_at_load(provisioned_s3, bundle):
    canonical = bundle / "canonical_transcripts.txt"
    canonical.write_text(canonical.read_text() + "ENSG00000999999\tENST00000999999\n")
    with pytest.raises(ReferenceError, match=r"canonical_transcripts.txt names 1 transcript\(s\) "
                                             r"that genes.gff3 does not have, e.g. "
                                             r"ENST00000999999"):
        reference_load(build="wes-mini", directory=bundle)
    canonical.write_text("ENSG00000100001 ENST00000100001\n")
    with pytest.raises(ReferenceError, match=r"line 1: expected gene_id<TAB>transcript_id"):
        reference_load(build="wes-mini", directory=bundle)
    assert stored("wes-mini") == {}


def test_a_vcf_source_without_its_index_fails(provisioned_s3, bundle):
    (bundle / "gnomad.vcf.gz.tbi").unlink()
    with pytest.raises(ReferenceError, match=r"source 'gnomad': gnomad.vcf.gz has no tabix index "
                                             r"beside it \(gnomad.vcf.gz.tbi\)"):
        reference_load(build="wes-mini", directory=bundle)


@pytest.mark.parametrize("change, message", [
    ({"sources": {"dbsnp": {"file": "x.vcf.gz", "name": "dbSNP", "version": "1"}}},
     "unknown source 'dbsnp'"),
    ({"sources": {"hpo": {"file": "phenotype_to_genes.txt", "name": "HPO"}}},
     "source 'hpo' needs \"file\", \"name\" and \"version\""),
    ({"canonical": "canonical_transcripts.txt"}, r"unknown key\(s\) canonical"),
    ({"targets": "../targets.bed"}, "the targets must be a file name in"),
    ({"reference": "genes.gff3"}, "is not an uncompressed FASTA file"),
])
def test_a_bad_declaration_is_refused(provisioned_s3, bundle, change, message):
    declare(bundle, **change)
    with pytest.raises(ReferenceError, match=message):
        reference_load(build="wes-mini", directory=bundle)


def test_a_declared_file_named_like_a_built_one_is_refused(provisioned_s3, bundle):
    (bundle / "ref.fa.fai").write_text("chr1\t10\t6\t60\t61\n")
    declare(bundle, canonical_transcripts="ref.fa.fai")
    with pytest.raises(ReferenceError, match=r"file name\(s\) ref.fa.fai used twice"):
        reference_load(build="wes-mini", directory=bundle)
    assert not (bundle / ".load_reference").exists()


def test_an_unusable_build_name_is_refused_before_any_work(provisioned_s3, bundle):
    with pytest.raises(CommandError, match="'../x' cannot be part of an object key"):
        call_command("load_reference", "../x", str(bundle))
    assert not (bundle / ".load_reference").exists()


def test_an_undeclared_source_is_simply_absent(provisioned_s3, bundle, settings, tmp_path):
    declare(bundle, sources={"clinvar": None})
    (bundle / "clinvar.vcf.gz").unlink()
    manifest = reference_load(build="wes-mini", directory=bundle)
    assert "clinvar" not in manifest["sources"] and "clinvar" not in manifest["files"]
    assert "clinvar_index" not in manifest["files"]

    staged = reference_stage(build="wes-mini", cache_dir=tmp_path / "cache")
    command = pipeline_run(settings, tmp_path).command({"r1": Path("r1"), "r2": Path("r2")},
                                                       staged)
    assert "--clinvar" not in command and "--clinvar_version" not in command
    assert command[command.index("--gnomad_version") + 1] == "4.1-sim"
    assert reference_file(build="wes-mini", role="clinvar", cache_dir=tmp_path / "cache") is None


def pipeline_run(settings, tmp_path, runner="local"):
    """The run of an unsaved job: enough for the command it would start."""
    settings.PIPELINE_WORK_DIR = tmp_path / "work"
    job = Job(sample=Sample(name="TEST1"), runner=runner, attempts=1)
    return PipelineRun(job, "test-owner", publish=lambda job, out_dir: None)


@pytest.mark.parametrize("runner", ["local", "nextflow"])
def test_the_command_passes_every_part_of_the_bundle_by_the_same_names(
        provisioned_s3, bundle, settings, tmp_path, runner):
    reference_load(build="wes-mini", directory=bundle)
    staged = reference_stage(build="wes-mini", cache_dir=tmp_path / "cache")
    reads = {"r1": tmp_path / "TEST1_R1.fastq.gz", "r2": tmp_path / "TEST1_R2.fastq.gz"}
    command = pipeline_run(settings, tmp_path, runner).command(reads, staged)

    def value(param):
        return command[command.index(param) + 1]

    cache = tmp_path / "cache" / "wes-mini"
    assert value("--reference") == str(cache / "ref.fa")
    assert value("--snpeff_db") == str(cache / "snpEffectPredictor.bin")
    assert value("--canonical") == str(cache / "canonical_transcripts.txt")
    assert value("--gnomad") == str(cache / "gnomad.vcf.gz")
    assert value("--gnomad_version") == "4.1-sim"
    assert value("--clinvar") == str(cache / "clinvar.vcf.gz")
    assert value("--clinvar_version") == "20240512-sim"
    assert command[0] == ("nextflow" if runner == "nextflow" else sys.executable)
    assert "phenotype_to_genes.txt" not in " ".join(command)    # the review's, not the pipeline's


def test_the_old_three_file_layout_still_loads(provisioned_s3, testdata, tmp_path, settings):
    old = copy_bundle(testdata, tmp_path / "old", legacy=True)
    manifest = reference_load(build="wes-old", directory=old)
    assert manifest["layout"] == "legacy" and manifest["sources"] == {}
    assert set(manifest["files"]) == {"reference", "reference_fai", *(f"bwa_{e}" for e in BWA),
                                      "targets", "annotation"}

    staged = reference_stage(build="wes-old", cache_dir=tmp_path / "cache")
    command = pipeline_run(settings, tmp_path).command(
        {"r1": tmp_path / "r1.fq.gz", "r2": tmp_path / "r2.fq.gz"}, staged)
    for param in ("--snpeff_db", "--canonical", "--gnomad", "--clinvar"):
        assert param not in command
    # Two *.fa files without bundle.json: the old rule's error.
    (old / "other.fa").write_text(">x\nACGT\n")
    with pytest.raises(ReferenceError, match=r"exactly one \*\.fa file"):
        reference_load(build="wes-old", directory=old)


def test_staging_puts_indexes_beside_their_files_and_verifies_every_file(
        provisioned_s3, bundle, tmp_path):
    manifest = reference_load(build="wes-mini", directory=bundle)
    cache = tmp_path / "cache"
    staged = reference_stage(build="wes-mini", cache_dir=cache)
    assert staged.manifest == manifest
    folder = cache / "wes-mini"
    assert {role: p.name for role, p in staged.paths.items()} == {
        role: entry["name"] for role, entry in manifest["files"].items()}
    assert all(p.parent == folder for p in staged.paths.values())
    for ext in ("fai", *BWA):
        assert (folder / f"ref.fa.{ext}").is_file()
    assert (folder / "gnomad.vcf.gz.tbi").is_file() and (folder / "clinvar.vcf.gz.tbi").is_file()

    # Staged once: a second stage downloads nothing (the files keep their inodes) ...
    inodes = {p.name: p.stat().st_ino for p in staged.paths.values()}
    reference_stage(build="wes-mini", cache_dir=cache)
    assert {p.name: p.stat().st_ino for p in staged.paths.values()} == inodes
    # ... but a cached file that no longer matches its SHA-256 is downloaded again.
    bwt = folder / "ref.fa.bwt"
    with open(bwt, "r+b") as handle:
        handle.seek(100)
        handle.write(b"\x00\xff")
    reference_stage(build="wes-mini", cache_dir=cache)
    assert reference.sha256_of(bwt) == manifest["files"]["bwa_bwt"]["sha256"]
    assert not list(folder.glob(".*.part"))


def test_staging_refuses_a_file_that_does_not_match_its_manifest(provisioned_s3, bundle,
                                                                 tmp_path):
    reference_load(build="wes-mini", directory=bundle)
    # The object replaced behind the manifest's back (the bucket is read-only to everyone else).
    tampered = tmp_path / "targets.bed"
    tampered.write_text("chr1\t0\t10\n")
    s3.upload_path(bucket_name("reference"), keys.reference_key("wes-mini", "targets.bed"),
                   tampered, encrypt=False)
    with pytest.raises(ReferenceError, match="targets.bed .* does not match its manifest SHA-256"):
        reference_stage(build="wes-mini", cache_dir=tmp_path / "cache")
    folder = tmp_path / "cache" / "wes-mini"
    assert not (folder / "targets.bed").exists() and not list(folder.glob(".*.part"))


def test_workers_staging_the_same_build_at_once_get_whole_files(provisioned_s3, bundle,
                                                                tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    manifest = reference_load(build="wes-mini", directory=bundle)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: reference_stage(build="wes-mini",
                                                          cache_dir=tmp_path / "cache"),
                                range(4)))
    for staged in results:
        for role, path in staged.paths.items():
            assert reference.sha256_of(path) == manifest["files"][role]["sha256"]
    assert not list((tmp_path / "cache" / "wes-mini").glob(".*.part"))


def test_reference_file_stages_one_role(provisioned_s3, bundle, tmp_path):
    reference_load(build="wes-mini", directory=bundle)
    path = reference_file(build="wes-mini", role="hpo", cache_dir=tmp_path / "cache")
    assert path == tmp_path / "cache" / "wes-mini" / "phenotype_to_genes.txt"
    assert path.read_bytes() == (bundle / "phenotype_to_genes.txt").read_bytes()
    assert sorted(p.name for p in path.parent.iterdir()) == ["manifest.json",
                                                             "phenotype_to_genes.txt"]


def test_help_describes_bundle_json(capsys):
    with pytest.raises(SystemExit):
        call_command("load_reference", "--help")
    out = capsys.readouterr().out
    assert '"sources": {' in out and '"gnomad":  {"file": "gnomad.vcf.gz"' in out
    assert "exactly one *.fa, *.bed and *.gff3" in out
