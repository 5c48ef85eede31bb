"""A job's variant table read back one filtered, sorted page at a time (the viewer never holds the
whole table in memory), with the summary its filter form needs. Loading the table is
jobs/results/variant_table.py.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from django.core.cache import cache
from django.db.models import Case, Count, F, IntegerField, Max, Min, Q, Value, When, Window
from django.db.models.functions import Coalesce

from jobs.results.variant_table import IMPACT_OF_TERM, IMPACT_ORDER, consequence_terms

PER_PAGE = 50
SUMMARY_CACHE_SECONDS = None   # kept until evicted: it checks itself against the table's rows


GENOTYPES = {
    "het": ("Heterozygous (0/1)", ["0/1", "0|1", "1|0", "1/0"]),
    "hom_alt": ("Homozygous alternate (1/1)", ["1/1", "1|1"]),
    "hemi": ("Hemizygous (1)", ["1"]),
    "hom_ref": ("Homozygous reference (0/0)", ["0/0", "0|0", "0"]),
}
# ClinVar's significance values by the group a reviewer filters on: the first term decides
# ("Pathogenic|risk_factor" is pathogenic); "none" is a variant ClinVar does not list.
CLINVAR_GROUPS = {
    "pathogenic": "Pathogenic or likely pathogenic",
    "uncertain": "Uncertain significance",
    "conflicting": "Conflicting classifications",
    "benign": "Benign or likely benign",
    "other": "Other (drug response, risk factor, ...)",
    "none": "Not in ClinVar",
}
DEFAULT_MAX_AF_PCT = 1.0


def clinvar_group(significance: str) -> str:
    first = re.split(r"[|,;]", significance.strip().lower(), maxsplit=1)[0]
    if not first:
        return "none"
    if first.startswith("conflicting"):
        return "conflicting"
    if first in ("pathogenic", "likely_pathogenic", "pathogenic/likely_pathogenic",
                 "pathogenic/likely_pathogenic/likely_risk_allele", "likely_pathogenic/likely_risk_allele"):
        return "pathogenic"
    if first in ("benign", "likely_benign", "benign/likely_benign"):
        return "benign"
    if first.startswith("uncertain"):
        return "uncertain"
    return "other"


_IMPACT_RANK = Case(*[When(impact=i, then=Value(n)) for n, i in enumerate(IMPACT_ORDER)],
                    default=Value(len(IMPACT_ORDER)), output_field=IntegerField())


# The sortable columns: URL value -> heading. A leading "-" in the URL sorts descending.
SORTS = {
    "position": "Position",
    "gene": "Gene",
    "consequence": "Consequence",
    "impact": "Impact",
    "genotype": "Genotype",
    "depth": "Depth",
    "vaf": "VAF",
    "qual": "Quality",
    "gnomad_af": "Population AF",
}
DEFAULT_SORT = "position"
# (column, heading, numeric) as the table shows them
HEADINGS = [("position", "Position", False), ("change", "Change", False), ("gene", "Gene", False),
            ("consequence", "Consequence", False), ("impact", "Impact", False),
            ("hgvs", "HGVS", False), ("gnomad_af", "Population AF", True),
            ("clinvar", "ClinVar", False), ("genotype", "Genotype", False),
            ("depth", "Depth", True), ("vaf", "VAF", True), ("qual", "Quality", True),
            ("filter", "Filter", False)]


# A page's rows are dicts of these fields: the template reads dict keys faster than model
# attributes, and 50 rows x 15 cells is most of the page's rendering time.
ROW_FIELDS = ["id", "variant_id", "chrom", "pos", "ref", "alt", "genotype", "depth",
              "allele_depth", "vaf", "qual", "filter", "gene", "transcript", "consequence",
              "impact", "hgvs_p", "hgvs_c", "protein_change", "dna_change", "gnomad_af",
              "gnomad_hom", "clinvar_significance", "clinvar_review_status", "clinvar_id"]


@dataclass
class VariantPage:
    rows: list[dict]
    total: int            # rows matching the filters
    job_total: int        # all rows of the job
    page: int
    num_pages: int
    per_page: int
    sort: str

    @property
    def start(self) -> int:
        return (self.page - 1) * self.per_page + 1 if self.rows else 0

    @property
    def end(self) -> int:
        return self.start + len(self.rows) - 1 if self.rows else 0

    @property
    def headings(self) -> list[dict]:
        """The table's column headings in order. A sortable one carries the sort its link asks
        for (the current column flips direction) and its aria-sort state."""
        key, descending = self.sort.lstrip("-"), self.sort.startswith("-")
        out = []
        for column, label, numeric in HEADINGS:
            heading = {"key": column, "label": label, "numeric": numeric,
                       "sortable": column in SORTS}
            if column in SORTS:
                active = column == key
                heading["next"] = f"-{column}" if active and not descending else column
                heading["aria_sort"] = (("descending" if descending else "ascending")
                                        if active else "none")
            out.append(heading)
        return out

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.num_pages


@dataclass(frozen=True)
class TableSummary:
    total: int
    terms: list[str]      # consequence terms present, most severe class first
    consequences: tuple[str, ...] = ()   # the distinct consequence values, compound ones too
    first_id: int = 0     # the job's rows have ids first_id..last_id (one load, genomic order)
    last_id: int = 0
    clinvar: tuple[str, ...] = ()        # the distinct ClinVar significance values
    rare_total: int = 0   # rows the default view shows (population frequency <= the default)


def variant_table_summary(*, job) -> TableSummary:
    """How many rows the job has, which consequence terms occur, and the range of its row ids,
    for the filter form's choices and the page's counts. Every page view needs it and the table
    only changes when it is loaded again, so it is kept in the shared cache; a reload deletes
    every row and inserts rows with new ids, so a cached summary whose first and last rows are
    still there describes the table as it is."""
    key = f"variants:summary:v3:{job.pk}"  # bump when TableSummary changes
    cached = cache.get(key)
    if cached and job.variants.filter(id__in=[cached.first_id, cached.last_id]).count() == \
            len({cached.first_id, cached.last_id}):
        return cached
    summary = _summarise(job)
    if summary.total:
        cache.set(key, summary, SUMMARY_CACHE_SECONDS)
    return summary


def _summarise(job) -> TableSummary:
    """One pass over the job's rows, grouped by consequence and ClinVar value together (a hundred
    groups or so): a second pass for the ClinVar values took as long again."""
    groups = list(job.variants.order_by().values_list("consequence", "clinvar_significance")
                  .annotate(n=Count("id"), first=Min("id"), last=Max("id"),
                            rare=Count("id", filter=_rarer_than(DEFAULT_MAX_AF_PCT))))
    consequences = {consequence for consequence, *_ in groups}
    terms = {t for consequence in consequences for t in consequence_terms(consequence)}
    order = {i: n for n, i in enumerate(IMPACT_ORDER)}
    return TableSummary(
        clinvar=tuple(sorted({clinvar for _, clinvar, *_ in groups})),
        total=sum(n for _, _, n, *_ in groups),
        rare_total=sum(rare for *_, rare in groups),
        terms=sorted(terms, key=lambda t: (order.get(IMPACT_OF_TERM.get(t), len(order)), t)),
        consequences=tuple(sorted(consequences)),
        first_id=min((first for *_, first, _, _ in groups), default=0),
        last_id=max((last for *_, last, _ in groups), default=0))


def _rarer_than(max_af_pct: float) -> Q:
    # Absent from the population database is as rare as it gets.
    return Q(gnomad_af__lte=max_af_pct / 100) | Q(gnomad_af__isnull=True)


# What a gene symbol may be, in a filter or a panel: letters, digits, ".", "-", "_", at most 64.
GENE_SYMBOL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def hgnc_spelling(symbol: str) -> str:
    """HGNC's spelling of a human gene symbol: upper case, with "orf" in lower case (C1orf112)."""
    return re.sub(r"(?<=\d)ORF(?=\d)", "orf", symbol.upper())


def gene_spellings(symbol: str) -> list[str]:
    """The ways a symbol the user typed can be written in the table: as typed, upper case (HGNC),
    upper case with a lower-case "orf" (C1orf112), and capitalised (mouse, MGI: Brca1). Matching
    these with IN uses the (job, gene) index, where a case-insensitive comparison would read
    every row of the job."""
    return list(dict.fromkeys([symbol, symbol.upper(), hgnc_spelling(symbol),
                               symbol.capitalize()]))


def _filtered(job, filters: dict, summary: TableSummary):
    rows = job.variants.all()
    if filters.get("gene"):
        rows = rows.filter(gene__in=[g for typed in filters["gene"] for g in gene_spellings(typed)])
    if filters.get("consequence"):
        # The compound values that contain the term ("missense" is in "missense&splice_region"),
        # as an exact IN list: cheaper per row than pattern matching.
        term = filters["consequence"]
        rows = rows.filter(consequence__in=[c for c in summary.consequences
                                            if term in consequence_terms(c)])
    if filters.get("impact"):
        rows = rows.filter(impact__in=filters["impact"])
    if filters.get("genotype"):
        rows = rows.filter(genotype__in=GENOTYPES[filters["genotype"]][1])
    if filters.get("min_depth") is not None:
        rows = rows.filter(depth__gte=filters["min_depth"])
    if filters.get("min_qual") is not None:
        rows = rows.filter(qual__gte=filters["min_qual"])
    if filters.get("pass_only"):
        rows = rows.filter(filter="PASS")
    if filters.get("max_af_pct") is not None:
        rows = rows.filter(_rarer_than(filters["max_af_pct"]))
    if filters.get("clinvar"):
        rows = rows.filter(clinvar_significance__in=[
            value for value in summary.clinvar if clinvar_group(value) in filters["clinvar"]])
    if filters.get("panel"):
        rows = rows.filter(gene__in=[g for gene in filters["panel"].genes
                                     for g in gene_spellings(gene)])
    if filters.get("two_hits"):
        # Genes with two or more of the rows left (a possible compound heterozygote), or one
        # homozygous alternate call: the candidates of a recessive disorder.
        # The genes are fetched first rather than used as a subquery: PostgreSQL plans an
        # IN (subquery) for a partial read and walks the (job, gene) index row by row, about
        # three times the cost of the one scan it makes for the query on its own
        # (bench/variants.py, 50,000 rows).
        genes = list(rows.exclude(gene="").order_by().values("gene")
                     .annotate(n=Count("id")).filter(n__gte=2).values_list("gene", flat=True))
        rows = rows.filter(Q(gene__in=genes) | Q(genotype__in=GENOTYPES["hom_alt"][1]))
    return rows


def _ordering(sort: str, *, walk_ids: bool) -> list:
    """Position is the id (load_variants stores rows in genomic order). Only when the query
    reads the job's id range straight from the primary key is "id" itself the sort key; otherwise
    "id + 0" keeps PostgreSQL from walking the primary key through other jobs' rows."""
    descending, key = sort.startswith("-"), sort.lstrip("-")
    genomic = F("id") if walk_ids else F("id") + 0
    if key == "position":
        return [genomic.desc() if descending else genomic.asc()]
    # Impact sorts by severity (HIGH first when ascending), not alphabetically; a call absent
    # from the population database is the rarest of all.
    first = (_IMPACT_RANK if key == "impact" else
             Coalesce(F("gnomad_af"), Value(0.0)) if key == "gnomad_af" else
             F("gene_sort") if key == "gene" else F(key))
    # Missing values (no depth, no quality) go last either way, and ties keep genomic order.
    return [first.desc(nulls_last=True) if descending else first.asc(nulls_last=True),
            genomic.asc()]


def variant_page(*, job, filters: dict, per_page: int = PER_PAGE,
                 summary: TableSummary | None = None) -> VariantPage:
    """One page of the job's variants matching `filters` (a VariantFilterForm's cleaned_data),
    in the requested order, with the matching and total counts. A page past the end shows the
    last page. Pass the `summary` the view already has to save a pass over the rows."""
    summary = summary or variant_table_summary(job=job)
    sort = filters.get("sort") or DEFAULT_SORT
    page = filters.get("page") or 1
    total = _known_total(filters, summary)
    if total is not None and sort.lstrip("-") == "position":
        # The whole table, or the default view, in position order (every job's first view):
        # straight from the primary key over the job's id range, no sort and no count.
        page = min(page, _num_pages(total, per_page))
        rows = (_filtered(job, filters, summary)
                .filter(id__range=(summary.first_id, summary.last_id))
                .order_by(*_ordering(sort, walk_ids=True)).values(*ROW_FIELDS))
        page_rows = list(rows[(page - 1) * per_page:page * per_page])
    else:
        # Sort narrow (id, sort key) rows and count the matches in the same pass, then fetch the
        # page's 50 full rows by id: half the work of a count plus a sort of full rows.
        ordered = _filtered(job, filters, summary).order_by(*_ordering(sort, walk_ids=False))
        if total is None:
            ordered = ordered.annotate(matching=Window(Count("id")))
            top = list(ordered.values_list("id", "matching")[(page - 1) * per_page:
                                                             page * per_page])
            if not top and page > 1:  # past the end: count, then show the last page
                page = _num_pages(ordered.count(), per_page)
                top = list(ordered.values_list("id", "matching")[(page - 1) * per_page:
                                                                 page * per_page])
            total = top[0][1] if top else 0
            ids = [i for i, _ in top]
        else:
            page = min(page, _num_pages(total, per_page))
            ids = list(ordered.values_list("id", flat=True)[(page - 1) * per_page:
                                                            page * per_page])
        by_id = {r["id"]: r for r in job.variants.filter(id__in=ids).values("id", *ROW_FIELDS)}
        page_rows = [by_id[i] for i in ids if i in by_id]  # (unless reloaded meanwhile)
    return VariantPage(rows=page_rows, total=total, job_total=summary.total, page=page,
                       num_pages=_num_pages(total, per_page), per_page=per_page, sort=sort)


def _num_pages(total: int, per_page: int) -> int:
    return max(1, math.ceil(total / per_page))


def _known_total(filters: dict, summary: TableSummary) -> int | None:
    """The number of matching rows when the summary already holds it: no filter (every row) or
    only the default rarity filter (the default view); None when it must be counted."""
    active = {k: filters[k] for k in FILTER_FIELDS if filters.get(k) not in (None, "", [], False)}
    if not active:
        return summary.total
    if active == {"max_af_pct": DEFAULT_MAX_AF_PCT}:
        return summary.rare_total
    return None


FILTER_FIELDS = ("gene", "consequence", "impact", "genotype", "min_depth", "min_qual", "pass_only",
                 "max_af_pct", "clinvar", "panel", "two_hits")


def filters_for_audit(filters: dict) -> dict:
    """The filters that were set, as JSON (the audit record of what was looked at)."""
    out = {k: v for k, v in filters.items()
           if k in FILTER_FIELDS and v not in (None, "", [], False)}
    if "panel" in out:
        out["panel"] = str(out["panel"])
    return out
