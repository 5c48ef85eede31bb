"""The reference bundle (genome, capture targets, gene annotation) in the read-only reference
bucket: `{build}/...` plus `{build}/manifest.json` with each file's role, size and SHA-256.

`load_reference` puts a bundle there (the only writer); workers stage it into a local cache and
check every file's SHA-256 before a run uses it.
"""

from __future__ import annotations

import json
from pathlib import Path

from storage import keys, ledger, s3
from storage.checksums import sha256_file as sha256_of
from storage.buckets import bucket_name

ROLES = {"reference": ".fa", "targets": ".bed", "annotation": ".gff3"}
MANIFEST = "manifest.json"


class ReferenceError(Exception):
    pass


def find_roles(directory: Path) -> dict[str, Path]:
    """The bundle's files by role: exactly one *.fa, *.bed and *.gff3 in the directory."""
    found = {}
    for role, suffix in ROLES.items():
        matches = sorted(directory.glob(f"*{suffix}"))
        if len(matches) != 1:
            raise ReferenceError(f"{directory} must hold exactly one *{suffix} file (the {role}); "
                                 f"found {len(matches)}")
        found[role] = matches[0]
    return found


def reference_load(*, build: str, directory: Path) -> dict:
    """Upload a bundle (idempotent: files already there with the same SHA-256 are kept) and write
    its manifest last, so a half-loaded bundle is never used."""
    bucket = bucket_name("reference")
    manifest = {"build": build, "files": {}}
    for role, path in find_roles(directory).items():
        digest = sha256_of(path)
        key = keys.reference_key(build, path.name)
        existing = s3.object_info(bucket, key)
        if existing is None or existing["metadata"].get("sha256") != digest:
            s3.upload_path(bucket, key, path, metadata={"sha256": digest}, encrypt=False)
        stored = s3.object_info(bucket, key)
        if stored is None or stored["size"] != path.stat().st_size:
            raise ReferenceError(f"{key} did not arrive whole in {bucket}")
        ledger.record_put(bucket=bucket, key=key, size=stored["size"], sha256=digest)
        manifest["files"][role] = {"name": path.name, "size": path.stat().st_size,
                                   "sha256": digest}
    manifest_path = directory / f".{MANIFEST}"
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True))
    s3.upload_path(bucket, keys.reference_key(build, MANIFEST), manifest_path, encrypt=False)
    ledger.record_put(bucket=bucket, key=keys.reference_key(build, MANIFEST),
                      size=manifest_path.stat().st_size, sha256=sha256_of(manifest_path))
    manifest_path.unlink()
    return manifest


def reference_stage(*, build: str, cache_dir: Path) -> dict[str, Path]:
    """Local, checksum-verified copies of the bundle's files by role (downloaded once per build)."""
    bucket = bucket_name("reference")
    target = cache_dir / build
    target.mkdir(parents=True, exist_ok=True)
    manifest_path = target / MANIFEST
    if s3.object_info(bucket, keys.reference_key(build, MANIFEST)) is None:
        raise ReferenceError(f"reference build {build!r} is not in bucket {bucket}: run "
                             f"`manage.py load_reference {build} DIR` first")
    s3.download_path(bucket, keys.reference_key(build, MANIFEST), manifest_path)
    manifest = json.loads(manifest_path.read_text())
    staged = {}
    for role, entry in manifest["files"].items():
        path = target / entry["name"]
        if not path.exists() or sha256_of(path) != entry["sha256"]:
            s3.download_path(bucket, keys.reference_key(build, entry["name"]), path)
            if sha256_of(path) != entry["sha256"]:
                path.unlink()
                raise ReferenceError(f"{entry['name']} of build {build} does not match its "
                                     "manifest SHA-256 after download")
        staged[role] = path
    staged["manifest"] = manifest_path
    return staged
