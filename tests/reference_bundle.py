"""A copy of a generated reference bundle for a test that loads it: each test gets a directory of
its own, since `load_reference` builds beside the files and some tests change them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

LEGACY = ("ref.fa", "targets.bed", "genes.gff3")


def bundle_names(source: Path) -> list[str]:
    """The files `source/bundle.json` names (with bundle.json, and each VCF's .tbi); the old
    three-file layout when there is no bundle.json."""
    declaration = source / "bundle.json"
    if not declaration.exists():
        return list(LEGACY)
    data = json.loads(declaration.read_text())
    names = [data[role] for role in ("reference", "targets", "annotation",
                                     "canonical_transcripts") if role in data]
    for entry in data.get("sources", {}).values():
        names.append(entry["file"])
        if entry["file"].endswith(".vcf.gz"):
            names.append(entry["file"] + ".tbi")
    return ["bundle.json", *names]


def copy_bundle(source: Path, dest: Path, *, legacy: bool = False) -> Path:
    """The bundle's files copied into `dest` (made if need be); `legacy` copies only the old
    layout's three files."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in LEGACY if legacy else bundle_names(source):
        shutil.copyfile(source / name, dest / name)
    return dest
