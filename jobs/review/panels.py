"""Gene panels: a lab's named gene lists, kept in numbered versions that never change, and the
panel a sample's HPO terms suggest from the reference bundle's HPO gene file
(`phenotype_to_genes.txt`)."""

from __future__ import annotations

import csv
import functools
import re
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from common.db import for_update
from jobs.models import GenePanel, GenePanelVersion
from jobs.results.variant_table import gene_sort_key
from jobs.results.variants import GENE_SYMBOL, gene_spellings, hgnc_spelling
from jobs.runs.reference import ReferenceError, reference_file
from storage.s3 import StorageError
from tenants import audit_actions
from tenants.audit import Actor, audit_record

MAX_PANEL_GENES = 5000


def parse_genes(text: str) -> list[str]:
    """Symbols separated by commas, spaces or lines, in HGNC's spelling ("scn1a" and "SCN1A" are
    one gene of the panel); sorted and distinct."""
    genes = [g for g in re.split(r"[\s,;]+", text) if g]
    bad = [g for g in genes if not GENE_SYMBOL.match(g)]
    if bad:
        raise ValidationError(f"Not gene symbols: {', '.join(b[:64] for b in bad[:5])}"
                              f"{' …' if len(bad) > 5 else ''} (letters, digits, '.', '-', '_').")
    if not genes:
        raise ValidationError("List at least one gene.")
    if len(set(genes)) > MAX_PANEL_GENES:
        raise ValidationError(f"A panel holds at most {MAX_PANEL_GENES} genes.")
    return sorted({hgnc_spelling(g) for g in genes}, key=gene_sort_key)


def panel_coverage(job, version) -> dict | None:
    """Each gene of the panel version with its coverage in `job` (None when the run's annotation
    has no such gene), the share of the panel's coding bases at 20x, and the genes not fully
    covered: what a negative result rests on."""
    if version is None:
        return None
    measured = {hgnc_spelling(c.gene): c for c in job.gene_coverage.filter(
        gene__in=[g for gene in version.genes for g in gene_spellings(gene)])}
    genes = [{"gene": g, "coverage": measured.get(g)}
             for g in sorted(version.genes, key=gene_sort_key)]
    bases = sum(c.bases for c in measured.values())
    return {"genes": genes, "measured": bool(measured),
            "pct_20x": (round(100 * sum(c.bases_20x for c in measured.values()) / bases, 1)
                        if bases else None),
            "below": [g for g in genes if g["coverage"] is None or g["coverage"].pct_20x < 100],
            "missing": [g["gene"] for g in genes if g["coverage"] is None]}


def panel_versions(lab):
    """Every version of the lab's panels, newest version of each panel first."""
    return (GenePanelVersion.objects.filter(panel__lab=lab).select_related("panel")
            .order_by("panel__name", "-version"))


def panel_create(*, membership, name: str, genes: str, description: str = "",
                 request=None) -> GenePanelVersion:
    name = name.strip()
    if not name:
        raise ValidationError("Give the panel a name.")
    symbols = parse_genes(genes)
    if membership.lab.gene_panels.filter(name__iexact=name).exists():
        raise ValidationError(f"The lab already has a panel named “{name}”.")
    try:
        with transaction.atomic():
            panel = GenePanel.objects.create(lab=membership.lab, name=name,
                                             description=description.strip())
            version = _add_version(membership, panel, symbols, note="first version",
                                   request=request, action=audit_actions.PANEL_CREATED)
    except IntegrityError:
        raise ValidationError(f"The lab already has a panel named “{name}”.") from None
    return version


def panel_version_add(*, membership, panel: GenePanel, genes: str, note: str,
                      request=None) -> GenePanelVersion:
    """A new version of `panel` with these genes; the earlier versions stay as they were."""
    symbols = parse_genes(genes)
    if not note.strip():
        raise ValidationError("Say what changed in this version.")
    with transaction.atomic():
        for_update(GenePanel.objects).get(pk=panel.pk)   # versions are numbered one at a time
        return _add_version(membership, panel, symbols, note=note.strip(), request=request,
                            action=audit_actions.PANEL_VERSION_CREATED)


def _add_version(membership, panel, symbols, *, note, request, action) -> GenePanelVersion:
    latest = panel.latest_version()
    if latest is not None and latest.genes == symbols:
        raise ValidationError(f"Version {latest.version} already has exactly these genes.")
    version = GenePanelVersion.objects.create(
        panel=panel, version=(latest.version + 1) if latest else 1, genes=symbols, note=note,
        created_by=membership.user)
    added = sorted(set(symbols) - set(latest.genes if latest else []), key=gene_sort_key)
    removed = sorted(set(latest.genes if latest else []) - set(symbols), key=gene_sort_key)
    audit_record(actor=Actor.for_user(membership.user), action=action, lab=membership.lab,
                 resource_type="gene_panel", resource_id=panel.pk, request=request,
                 details={"panel": panel.name, "version": version.version,
                          "genes": len(symbols), "added": added[:200], "removed": removed[:200]})
    return version


@functools.lru_cache(maxsize=2)
def _hpo_index(path: str, mtime: float) -> tuple[dict[str, set[str]], dict[str, str]]:
    """HPO term -> gene symbols, and term -> name, from the HPO file (about 1 s for the full
    file, once per worker process and file)."""
    genes: dict[str, set[str]] = {}
    names: dict[str, str] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            term, symbol = row.get("hpo_id") or "", row.get("gene_symbol") or ""
            if term and symbol:
                genes.setdefault(term, set()).add(symbol)
                names.setdefault(term, row.get("hpo_name") or "")
    return genes, names


HPO_PATH_SECONDS = 300


def _hpo_path(build: str) -> Path | None:
    """The bundle's HPO file in this machine's reference cache, staged and checked against the
    manifest at most every five minutes (not on every page view); a failure to read it is kept
    as long, so a bundle without the file or a storage outage costs one lookup, not one a page."""
    key = f"reference:hpo-path:v2:{build}"
    cached = cache.get(key)
    if cached is not None:
        kind, value = cached
        if kind == "error":
            raise ReferenceError(value)
        if not value or Path(value).is_file():
            return Path(value) if value else None
    try:
        path = reference_file(build=build, role="hpo",
                              cache_dir=Path(settings.PIPELINE_WORK_DIR) / "reference")
    except (ReferenceError, StorageError) as exc:
        cache.set(key, ("error", str(exc)), HPO_PATH_SECONDS)
        raise ReferenceError(str(exc)) from exc
    cache.set(key, ("path", str(path) if path else ""), HPO_PATH_SECONDS)
    return path


def hpo_suggestion(terms: list[str]) -> dict:
    """The genes the HPO file links to the sample's terms: {"genes": [...], "terms": [(term,
    name, n genes)], "unknown": [...]}, or {"error": why} when the bundle has no HPO file."""
    try:
        path = _hpo_path(settings.REFERENCE_BUILD)
    except (ReferenceError, StorageError) as exc:
        return {"error": f"The HPO gene file could not be read: {exc}"}
    if path is None:
        return {"error": "The reference bundle has no HPO gene file."}
    genes_of, names = _hpo_index(str(path), path.stat().st_mtime)
    found = [t for t in terms if t in genes_of]
    return {"genes": sorted(set().union(*(genes_of[t] for t in found)), key=gene_sort_key),
            "terms": [(t, names.get(t, ""), len(genes_of[t])) for t in found],
            "unknown": [t for t in terms if t not in genes_of]}
