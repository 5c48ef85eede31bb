"""The reference bundle in the read-only reference bucket: `{build}/...` plus
`{build}/manifest.json`, which names every file by role with its size and SHA-256, and the
annotation sources (gnomAD, ClinVar, HPO) with their declared name, version and SHA-256.

`load_reference` puts a bundle there (the only writer). A bundle directory declares its files in
`bundle.json`; one without it is the old layout (exactly one *.fa, *.bed and *.gff3). What a run
needs but a lab does not ship (the `.fai`, the bwa index and, for a declared bundle, the snpEff
database) is built once at load, in a scratch directory beside the files, never per job; a small
record of what each was built from lets a rerun skip it. Workers stage the bundle into a local
cache once per build and check every file's SHA-256 before a run uses it.

Everything streams: files are hashed in chunks and uploaded and downloaded in bounded multipart
transfers, so a 3 GB genome (and its 5 GB index) needs no more memory than the test genome.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from storage import keys, ledger, s3
from storage.buckets import bucket_name
from storage.checksums import sha256_chunks, sha256_file as sha256_of
from storage.credentials import acting_as
from storage.models import StoredObject

MANIFEST = "manifest.json"
DECLARATION = "bundle.json"
SCRATCH = ".load_reference"          # built files and their record, beside the bundle's files
LEGACY_ROLES = {"reference": ".fa", "targets": ".bed", "annotation": ".gff3"}
REQUIRED = ("reference", "targets", "annotation")
OPTIONAL = ("canonical_transcripts",)
SOURCES = ("gnomad", "clinvar", "hpo")
INDEXED_SOURCES = ("gnomad", "clinvar")   # bgzipped VCFs: "<source>_index" is their .tbi
BWA_EXTENSIONS = ("amb", "ann", "bwt", "pac", "sa")
SNPEFF_DB = "snpEffectPredictor.bin"
BUILD_SNPEFF_DB = Path(settings.BASE_DIR) / "nextflow" / "bin" / "build_snpeff_db"

Say = Callable[[str], None]


class ReferenceError(Exception):
    pass


@dataclass
class Bundle:
    """A bundle directory as declared: its files by role, and the sources' name and version."""
    directory: Path
    layout: str                                   # "bundle.json" or "legacy"
    files: dict[str, Path]
    sources: dict[str, dict] = field(default_factory=dict)


@dataclass
class StagedReference:
    """A build staged in a worker's cache: local, verified paths by role, and its manifest."""
    paths: dict[str, Path]
    manifest: dict

    def version(self, source: str) -> str | None:
        return self.manifest.get("sources", {}).get(source, {}).get("version")


def find_roles(directory: Path) -> dict[str, Path]:
    """The old layout's files by role: exactly one *.fa, *.bed and *.gff3 in the directory."""
    found = {}
    for role, suffix in LEGACY_ROLES.items():
        matches = sorted(directory.glob(f"*{suffix}"))
        if len(matches) != 1:
            raise ReferenceError(f"{directory} must hold exactly one *{suffix} file (the {role}); "
                                 f"found {len(matches)} (or declare the files in {DECLARATION})")
        found[role] = matches[0]
    return found


def bundle_read(directory: Path) -> Bundle:
    """The bundle in `directory`, every declared file checked to be there before anything is
    built or uploaded: a declared source that is missing is a configuration error naming it."""
    declaration = directory / DECLARATION
    if not declaration.exists():
        files = find_roles(directory)
        _check_fasta(files["reference"])
        return Bundle(directory, "legacy", files)
    try:
        data = json.loads(declaration.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ReferenceError(f"{declaration} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ReferenceError(f"{declaration} must hold a JSON object")
    # An unknown key is most likely a misspelt one: refuse it rather than load without it.
    unknown = sorted(set(data) - {*REQUIRED, *OPTIONAL, "sources"})
    if unknown:
        raise ReferenceError(f"{declaration}: unknown key(s) {', '.join(unknown)}; known: "
                             f"{', '.join((*REQUIRED, *OPTIONAL, 'sources'))}")
    files = {}
    for role in (*REQUIRED, *OPTIONAL):
        if role in data:
            files[role] = _declared_file(declaration, data[role], f"the {role}")
        elif role in REQUIRED:
            raise ReferenceError(f"{declaration} must name the {role} file (\"{role}\": ...)")
    _check_fasta(files["reference"])
    declared = data.get("sources", {})
    if not isinstance(declared, dict):
        raise ReferenceError(f"{declaration}: \"sources\" must be an object")
    sources = {}
    for name, entry in declared.items():
        if name not in SOURCES:
            raise ReferenceError(f"{declaration}: unknown source {name!r}; known: "
                                 f"{', '.join(SOURCES)}")
        if not isinstance(entry, dict) or not all(
                isinstance(entry.get(k), str) and entry[k].strip()
                for k in ("file", "name", "version")):
            raise ReferenceError(f"{declaration}: source {name!r} needs \"file\", \"name\" and "
                                 "\"version\"")
        path = _declared_file(declaration, entry["file"], f"source {name!r}")
        files[name] = path
        if name in INDEXED_SOURCES:
            index = path.with_name(path.name + ".tbi")
            if not index.is_file():
                raise ReferenceError(
                    f"source {name!r}: {path.name} has no tabix index beside it ({index.name}); "
                    f"the VCF must be bgzipped and indexed (`tabix -p vcf {path.name}`)")
            files[f"{name}_index"] = index
        sources[name] = {"name": entry["name"].strip(), "version": entry["version"].strip()}
    return Bundle(directory, DECLARATION, files, sources)


def _declared_file(declaration: Path, name, what: str) -> Path:
    if not isinstance(name, str) or not name or Path(name).name != name:
        raise ReferenceError(f"{declaration}: {what} must be a file name in "
                             f"{declaration.parent}, not {name!r}")
    path = declaration.parent / name
    if not path.is_file():
        raise ReferenceError(f"{declaration} declares {what} as {name}, but {path} does not "
                             "exist")
    if path.stat().st_size == 0:
        raise ReferenceError(f"{declaration} declares {what} as {name}, but {path} is empty")
    return path


def _check_canonical(canonical: Path, annotation: Path) -> None:
    """Every canonical transcript must be one of the annotation's: snpEff stops every run on a
    transcript its database lacks, so a list from another release is refused here, at load.
    Reads the GFF3 line by line (a human one is about 500 MB)."""
    wanted = {}
    with open(canonical, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            fields = line.rstrip("\n").split("\t")
            if not line.strip() or line.startswith("#"):
                continue
            if len(fields) != 2 or not all(fields):
                raise ReferenceError(f"{canonical.name} line {lineno}: expected gene_id<TAB>"
                                     f"transcript_id, got {line.strip()[:80]!r}")
            wanted[fields[1]] = lineno
    opener = gzip.open if annotation.name.endswith(".gz") else open
    with opener(annotation, "rt", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("#") or "\tmRNA\t" not in line and "\ttranscript\t" not in line:
                continue
            match = TRANSCRIPT_ID.search(line)
            if match:
                wanted.pop(match.group(1), None)
                if not wanted:
                    return
    if wanted:
        missing = sorted(wanted, key=wanted.get)
        raise ReferenceError(
            f"{canonical.name} names {len(missing)} transcript(s) that {annotation.name} does not "
            f"have, e.g. {', '.join(missing[:5])}: the list and the gene annotation must come "
            "from the same release")


TRANSCRIPT_ID = re.compile(r"\tID=(?:transcript:)?([^;\t]+)")


def _check_fasta(path: Path) -> None:
    with open(path, "rb") as handle:
        if handle.read(1) != b">":
            raise ReferenceError(f"{path} is not an uncompressed FASTA file (no '>' header)")


# What load builds: (name, input roles, {output role: file name}, command). Built into a fresh
# directory and moved into place only when complete, so a killed load never leaves half an index
# that a rerun would take for a whole one.
def _products(bundle: Bundle) -> list[tuple[str, tuple[str, ...], dict[str, str], Callable]]:
    ref = bundle.files["reference"]
    products = [
        ("reference_fai", ("reference",), {"reference_fai": f"{ref.name}.fai"},
         lambda out: ["samtools", "faidx", str(ref), "--fai-idx", str(out / f"{ref.name}.fai")]),
        ("bwa_index", ("reference",),
         {f"bwa_{ext}": f"{ref.name}.{ext}" for ext in BWA_EXTENSIONS},
         lambda out: ["bwa", "index", "-p", str(out / ref.name), str(ref)]),
    ]
    if bundle.layout == DECLARATION:
        # The old layout keeps bcftools csq (runs give what they gave); a declared bundle gets
        # snpEff, whose database is built from the bundle's own GFF3 and FASTA.
        gff = bundle.files["annotation"]
        products.append(
            ("snpeff_db", ("reference", "annotation", "build_snpeff_db"),
             {"snpeff_db": SNPEFF_DB},
             lambda out: [str(BUILD_SNPEFF_DB), "--reference", str(ref), "--annotation", str(gff),
                          "--outdir", str(out)]))
    return products


def _build(bundle: Bundle, digests: dict[str, str], scratch: Path, say: Say) -> dict[str, Path]:
    """Build what is missing or out of date; the built files by role (their digests go into
    `digests`). A product is rebuilt only when its inputs' SHA-256s differ from the record's, or
    one of its files is missing or no longer matches what was built."""
    record_path = scratch / "built.json"
    record = json.loads(record_path.read_text()) if record_path.exists() else {}
    built = {}
    for name, inputs, outputs, command in _products(bundle):
        made_from = {role: digests[role] for role in inputs}
        paths = {role: scratch / file for role, file in outputs.items()}
        previous = record.get(name, {})
        current = {role: sha256_of(p) if p.is_file() else None for role, p in paths.items()}
        if previous.get("from") == made_from and current == previous.get("files"):
            say(f"{name:<22} up to date (built from the same inputs)")
        else:
            say(f"{name:<22} building ...")
            started = time.monotonic()
            work = scratch / f"{name}.building"
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            _run(command(work), name, scratch / f"{name}.log")
            for role, file in outputs.items():
                if not (work / file).is_file():
                    raise ReferenceError(f"building {name} did not produce {file} (see "
                                         f"{scratch / f'{name}.log'})")
                os.replace(work / file, paths[role])
                current[role] = sha256_of(paths[role])
            shutil.rmtree(work, ignore_errors=True)
            record[name] = {"from": made_from, "files": current}
            _write_atomically(record_path, json.dumps(record, indent=2, sort_keys=True).encode())
            say(f"{name:<22} built in {time.monotonic() - started:.1f} s")
        digests.update(current)
        built.update(paths)
    return built


def _run(command: list[str], name: str, log_path: Path) -> None:
    try:
        with open(log_path, "wb") as log_file:
            done = subprocess.run(command, stdout=log_file, stderr=subprocess.STDOUT)
    except FileNotFoundError as exc:
        raise ReferenceError(f"building {name}: {command[0]} not found ({exc.strerror})") from exc
    if done.returncode != 0:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-10:])
        raise ReferenceError(f"building {name} failed (exit {done.returncode}):\n{tail}")


def _write_atomically(path: Path, data: bytes) -> None:
    partial = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.part")
    partial.write_bytes(data)
    os.replace(partial, path)


@acting_as("admin")
def reference_load(*, build: str, directory: Path, scratch: Path | None = None,
                   say: Say = lambda line: None) -> dict:
    """Build what must be built, upload the bundle and write its manifest last, so a
    half-loaded bundle is never used. Resumable: files already stored with the same SHA-256 are
    not uploaded again, and products whose inputs did not change are not built again."""
    bundle = bundle_read(directory)
    for name in (MANIFEST, *(path.name for path in bundle.files.values())):
        try:                                       # an unusable name fails before any work
            keys.reference_key(build, name)
        except keys.UnsafeKeyComponent as exc:
            raise ReferenceError(f"{exc} (build names and bundle file names: letters, digits, "
                                 ". _ -)") from exc
    names = [path.name for path in bundle.files.values()] + [
        file for _, _, outputs, _ in _products(bundle) for file in outputs.values()]
    clashes = sorted({n for n in names if names.count(n) > 1} | {MANIFEST} & set(names))
    if clashes:
        raise ReferenceError(f"{directory}: file name(s) {', '.join(clashes)} used twice in the "
                             "bundle (the bucket keeps one file per name)")
    if "canonical_transcripts" in bundle.files:
        _check_canonical(bundle.files["canonical_transcripts"], bundle.files["annotation"])
    scratch = scratch or directory / SCRATCH
    scratch.mkdir(parents=True, exist_ok=True)
    files = dict(bundle.files)
    digests = {}
    for role, path in files.items():
        say(f"{role:<22} checksumming {path.name} ({path.stat().st_size:,} bytes)")
        digests[role] = sha256_of(path)
    if bundle.layout == DECLARATION:
        if not BUILD_SNPEFF_DB.exists():
            raise ReferenceError(f"{BUILD_SNPEFF_DB} is missing: the snpEff database cannot be "
                                 "built")
        digests["build_snpeff_db"] = sha256_of(BUILD_SNPEFF_DB)
    files.update(_build(bundle, digests, scratch, say))

    bucket = bucket_name("reference")
    manifest = {"build": build, "layout": bundle.layout, "files": {}, "sources": {}}
    for role, path in sorted(files.items()):
        size = path.stat().st_size
        uploaded = _upload(bucket, keys.reference_key(build, path.name), path, size, digests[role])
        say(f"{role:<22} {'uploaded' if uploaded else 'already stored'}: {path.name}")
        manifest["files"][role] = {"name": path.name, "size": size, "sha256": digests[role]}
    for name, source in sorted(bundle.sources.items()):
        manifest["sources"][name] = {**source, "file": files[name].name, "sha256": digests[name]}

    data = json.dumps(manifest, indent=2, sort_keys=True).encode()
    digest = sha256_chunks([data])
    key = keys.reference_key(build, MANIFEST)
    existing = s3.object_info(bucket, key)
    if existing is None or existing["metadata"].get("sha256") != digest:
        s3.put_bytes(bucket, key, data, content_type="application/json",
                     metadata={"sha256": digest}, encrypt=False)
    _record(bucket, key, len(data), digest)
    return manifest


def _upload(bucket: str, key: str, path: Path, size: int, digest: str) -> bool:
    """Upload unless the object is already there with this SHA-256; check it arrived whole."""
    existing = s3.object_info(bucket, key)
    uploaded = existing is None or existing["metadata"].get("sha256") != digest \
        or existing["size"] != size
    if uploaded:
        s3.upload_path(bucket, key, path, metadata={"sha256": digest}, encrypt=False)
        stored = s3.object_info(bucket, key)
        if stored is None or stored["size"] != size:
            raise ReferenceError(f"{key} did not arrive whole in {bucket}")
    _record(bucket, key, size, digest)
    return uploaded


def _record(bucket: str, key: str, size: int, digest: str) -> None:
    # In the ledger once per stored version: a rerun that uploads nothing adds no rows, and one
    # that resumes a load killed between upload and ledger fills the gap.
    if not StoredObject.objects.filter(bucket=bucket, key=key, deleted_at__isnull=True,
                                       sha256=digest, size=size).exists():
        ledger.record_put(bucket=bucket, key=key, size=size, sha256=digest)


def reference_stage(*, build: str, cache_dir: Path) -> StagedReference:
    """Local, checksum-verified copies of every file of the build (downloaded once per build;
    verified at every call). Files keep their names in one folder, so the `.fai` and bwa index
    sit beside the FASTA and each `.tbi` beside its VCF, where the pipeline looks for them."""
    target = cache_dir / build
    manifest = _fetch_manifest(build, target)
    paths = {role: _stage_file(build, target, entry)
             for role, entry in sorted(manifest["files"].items())}
    return StagedReference(paths=paths, manifest=manifest)


def reference_file(*, build: str, role: str, cache_dir: Path) -> Path | None:
    """One file of the build (say "hpo"), staged and verified; None when the build has none."""
    target = cache_dir / build
    entry = _fetch_manifest(build, target)["files"].get(role)
    return _stage_file(build, target, entry) if entry else None


def _fetch_manifest(build: str, target: Path) -> dict:
    bucket, key = bucket_name("reference"), keys.reference_key(build, MANIFEST)
    if s3.object_info(bucket, key) is None:
        raise ReferenceError(f"reference build {build!r} is not in bucket {bucket}: run "
                             f"`manage.py load_reference {build} DIR` first")
    target.mkdir(parents=True, exist_ok=True)
    path = _download(bucket, key, target / MANIFEST)
    return json.loads(path.read_text())


def _stage_file(build: str, target: Path, entry: dict) -> Path:
    key = keys.reference_key(build, entry["name"])     # also refuses a name that climbs out
    path = target / entry["name"]
    if path.is_file() and sha256_of(path) == entry["sha256"]:
        return path
    return _download(bucket_name("reference"), key, path, sha256=entry["sha256"])


def _download(bucket: str, key: str, path: Path, *, sha256: str | None = None) -> Path:
    """Download to a name of this process's own, check, then rename into place: two workers
    staging the same build never see each other's half-written file."""
    partial = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.part")
    try:
        s3.download_path(bucket, key, partial)
        if sha256 is not None and sha256_of(partial) != sha256:
            raise ReferenceError(f"{key} in {bucket} does not match its manifest SHA-256 after "
                                 "download")
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path
