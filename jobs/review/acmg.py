"""The ACMG/AMP 2015 criteria for sequence variants and the rules that combine them into a class
(Richards et al., Genet Med 2015;17:405-424, Table 5). Plain Python: the review pages store which
criteria a reviewer marked, at which strength, and ask `suggested_class` for the class those
criteria give; the reviewer's final class is theirs to set.

A criterion may be applied at another strength than its own (PVS1 at strong, PM2 at supporting,
as ClinGen's recommendations allow); it then counts at the strength it was applied at.
Pathogenic criteria are very strong, strong, moderate or supporting; benign ones stand-alone,
strong or supporting.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

PATHOGENIC, LIKELY_PATHOGENIC, UNCERTAIN = "pathogenic", "likely_pathogenic", "uncertain"
LIKELY_BENIGN, BENIGN = "likely_benign", "benign"
CLASSES = [(PATHOGENIC, "Pathogenic"), (LIKELY_PATHOGENIC, "Likely pathogenic"),
           (UNCERTAIN, "Uncertain significance"), (LIKELY_BENIGN, "Likely benign"),
           (BENIGN, "Benign")]

VERY_STRONG, STRONG, MODERATE, SUPPORTING, STAND_ALONE = (
    "very_strong", "strong", "moderate", "supporting", "stand_alone")
PATHOGENIC_STRENGTHS = (VERY_STRONG, STRONG, MODERATE, SUPPORTING)
BENIGN_STRENGTHS = (STAND_ALONE, STRONG, SUPPORTING)

# code: (own strength, what it says), as in the paper's Tables 3 and 4.
CRITERIA = {
    "PVS1": (VERY_STRONG, "Null variant where loss of function is a known mechanism of disease"),
    "PS1": (STRONG, "Same amino acid change as an established pathogenic variant"),
    "PS2": (STRONG, "De novo (maternity and paternity confirmed), no family history"),
    "PS3": (STRONG, "Well-established functional studies show a damaging effect"),
    "PS4": (STRONG, "Prevalence in affected individuals significantly above controls"),
    "PM1": (MODERATE, "In a mutational hot spot or critical functional domain"),
    "PM2": (MODERATE, "Absent from controls (or extremely rare) in population databases"),
    "PM3": (MODERATE, "For recessive disorders, in trans with a pathogenic variant"),
    "PM4": (MODERATE, "Protein length change (in-frame indel in a non-repeat region, stop-loss)"),
    "PM5": (MODERATE, "Novel missense at a residue where another pathogenic missense is known"),
    "PM6": (MODERATE, "Assumed de novo, without confirmation of paternity and maternity"),
    "PP1": (SUPPORTING, "Co-segregation with disease in multiple affected family members"),
    "PP2": (SUPPORTING, "Missense in a gene with a low rate of benign missense variation"),
    "PP3": (SUPPORTING, "Multiple computational lines of evidence support a deleterious effect"),
    "PP4": (SUPPORTING, "Phenotype or family history highly specific for a single-gene disease"),
    "PP5": (SUPPORTING, "Reputable source reports it pathogenic, evidence not available"),
    "BA1": (STAND_ALONE, "Allele frequency above 5% in population databases"),
    "BS1": (STRONG, "Allele frequency greater than expected for the disorder"),
    "BS2": (STRONG, "Observed in a healthy adult, fully penetrant early-onset disorder"),
    "BS3": (STRONG, "Well-established functional studies show no damaging effect"),
    "BS4": (STRONG, "Lack of segregation in affected members of a family"),
    "BP1": (SUPPORTING, "Missense in a gene where primarily truncating variants cause disease"),
    "BP2": (SUPPORTING, "In trans or in cis with a pathogenic variant, contradicting the mode"),
    "BP3": (SUPPORTING, "In-frame indel in a repetitive region without known function"),
    "BP4": (SUPPORTING, "Multiple computational lines of evidence suggest no impact"),
    "BP5": (SUPPORTING, "Found in a case with an alternate molecular basis for disease"),
    "BP6": (SUPPORTING, "Reputable source reports it benign, evidence not available"),
    "BP7": (SUPPORTING, "Synonymous, no predicted splice impact, not highly conserved"),
}


class CriterionError(ValueError):
    pass


@dataclass(frozen=True)
class Met:
    """A criterion the reviewer found met, at its own strength unless `strength` says otherwise."""

    code: str
    strength: str | None = None

    def __post_init__(self):
        if self.code not in CRITERIA:
            raise CriterionError(f"{self.code!r} is not an ACMG/AMP criterion")
        allowed = PATHOGENIC_STRENGTHS if self.pathogenic else BENIGN_STRENGTHS
        if self.strength is not None and self.strength not in allowed:
            side = "pathogenic" if self.pathogenic else "benign"
            raise CriterionError(f"{self.code} is a {side} criterion: it can be applied at "
                                 f"{', '.join(s.replace('_', ' ') for s in allowed)}, not "
                                 f"{self.strength.replace('_', ' ')}")

    @property
    def pathogenic(self) -> bool:
        return self.code.startswith("P")

    @property
    def applied_strength(self) -> str:
        return self.strength or CRITERIA[self.code][0]


def _pathogenic_class(n: Counter) -> str | None:
    # Table 5 has one very strong criterion; a second one (a criterion applied at very strong)
    # counts at least as a strong one.
    pvs, pm, pp = min(n[VERY_STRONG], 1), n[MODERATE], n[SUPPORTING]
    ps = n[STRONG] + max(n[VERY_STRONG] - 1, 0)
    if (pvs >= 1 and (ps >= 1 or pm >= 2 or (pm == 1 and pp == 1) or pp >= 2)
            or ps >= 2
            or ps == 1 and (pm >= 3 or (pm == 2 and pp >= 2) or (pm == 1 and pp >= 4))):
        return PATHOGENIC
    if (pvs >= 1 and pm == 1
            or ps == 1 and 1 <= pm <= 2
            or ps == 1 and pp >= 2
            or pm >= 3
            or pm == 2 and pp >= 2
            or pm == 1 and pp >= 4):
        return LIKELY_PATHOGENIC
    return None


def _benign_class(n: Counter) -> str | None:
    if n[STAND_ALONE] >= 1 or n[STRONG] >= 2:
        return BENIGN
    if n[STRONG] == 1 and n[SUPPORTING] >= 1 or n[SUPPORTING] >= 2:
        return LIKELY_BENIGN
    return None


def suggested_class(met: Iterable[Met]) -> str:
    """The class the 2015 combining rules give: uncertain when neither side's rules are met, and
    when both are (contradictory evidence)."""
    met = list(met)
    codes = Counter(m.code for m in met)
    twice = sorted(code for code, count in codes.items() if count > 1)
    if twice:
        raise CriterionError(f"each criterion counts once: {', '.join(twice)} given twice")
    pathogenic = _pathogenic_class(Counter(m.applied_strength for m in met if m.pathogenic))
    benign = _benign_class(Counter(m.applied_strength for m in met if not m.pathogenic))
    if pathogenic and benign:
        return UNCERTAIN
    return pathogenic or benign or UNCERTAIN


def criteria_labels(criteria: dict[str, str]) -> tuple[str, ...]:
    """Stored criteria ({code: strength}) as written in pages and reports, in the paper's order:
    "PVS1", or "PM2 (supporting)" for a criterion applied at another strength than its own."""
    order = list(CRITERIA)
    known = [(code, strength) for code, strength in criteria.items() if code in CRITERIA]
    return tuple(code if strength == CRITERIA[code][0] else
                 f"{code} ({strength.replace('_', ' ')})"
                 for code, strength in sorted(known, key=lambda c: order.index(c[0])))
