"""The ACMG/AMP 2015 combining rules (Richards et al. 2015, Table 5): every rule's smallest
combination, the combinations just short of it, every count combination against the table as
written, contradictions, and criteria applied at another strength."""

import itertools

import pytest

from jobs.review.acmg import (BENIGN, CRITERIA, LIKELY_BENIGN, LIKELY_PATHOGENIC, PATHOGENIC,
                               UNCERTAIN, CriterionError, Met, suggested_class)

PVS, PS, PM, PP = (["PVS1"], ["PS1", "PS2", "PS3", "PS4"], ["PM1", "PM2", "PM3", "PM4", "PM5", "PM6"],
                   ["PP1", "PP2", "PP3", "PP4", "PP5"])
BA, BS, BP = ["BA1"], ["BS1", "BS2", "BS3", "BS4"], ["BP1", "BP2", "BP3", "BP4", "BP5", "BP6", "BP7"]


def met(pvs=0, ps=0, pm=0, pp=0, ba=0, bs=0, bp=0) -> list[Met]:
    """That many distinct criteria of each kind, at their own strength."""
    chosen = PVS[:pvs] + PS[:ps] + PM[:pm] + PP[:pp] + BA[:ba] + BS[:bs] + BP[:bp]
    return [Met(code) for code in chosen]


# Table 5, rule by rule, each with its smallest combination.
RULES = [
    ("P (i)(a) PVS1 + >=1 strong", dict(pvs=1, ps=1), PATHOGENIC),
    ("P (i)(b) PVS1 + >=2 moderate", dict(pvs=1, pm=2), PATHOGENIC),
    ("P (i)(c) PVS1 + 1 moderate + 1 supporting", dict(pvs=1, pm=1, pp=1), PATHOGENIC),
    ("P (i)(d) PVS1 + >=2 supporting", dict(pvs=1, pp=2), PATHOGENIC),
    ("P (ii) >=2 strong", dict(ps=2), PATHOGENIC),
    ("P (iii)(a) 1 strong + >=3 moderate", dict(ps=1, pm=3), PATHOGENIC),
    ("P (iii)(b) 1 strong + 2 moderate + >=2 supporting", dict(ps=1, pm=2, pp=2), PATHOGENIC),
    ("P (iii)(c) 1 strong + 1 moderate + >=4 supporting", dict(ps=1, pm=1, pp=4), PATHOGENIC),
    ("LP (i) PVS1 + 1 moderate", dict(pvs=1, pm=1), LIKELY_PATHOGENIC),
    ("LP (ii) 1 strong + 1 moderate", dict(ps=1, pm=1), LIKELY_PATHOGENIC),
    ("LP (ii) 1 strong + 2 moderate", dict(ps=1, pm=2), LIKELY_PATHOGENIC),
    ("LP (iii) 1 strong + >=2 supporting", dict(ps=1, pp=2), LIKELY_PATHOGENIC),
    ("LP (iv) >=3 moderate", dict(pm=3), LIKELY_PATHOGENIC),
    ("LP (v) 2 moderate + >=2 supporting", dict(pm=2, pp=2), LIKELY_PATHOGENIC),
    ("LP (vi) 1 moderate + >=4 supporting", dict(pm=1, pp=4), LIKELY_PATHOGENIC),
    ("B (i) BA1", dict(ba=1), BENIGN),
    ("B (ii) >=2 strong", dict(bs=2), BENIGN),
    ("LB (i) 1 strong + 1 supporting", dict(bs=1, bp=1), LIKELY_BENIGN),
    ("LB (ii) >=2 supporting", dict(bp=2), LIKELY_BENIGN),
    ("none met", dict(), UNCERTAIN),
]

JUST_SHORT = [
    ("PVS1 alone", dict(pvs=1), UNCERTAIN),
    ("PVS1 + 1 supporting", dict(pvs=1, pp=1), UNCERTAIN),
    ("1 strong alone", dict(ps=1), UNCERTAIN),
    ("1 strong + 1 supporting", dict(ps=1, pp=1), UNCERTAIN),
    ("2 moderate", dict(pm=2), UNCERTAIN),
    ("2 moderate + 1 supporting", dict(pm=2, pp=1), UNCERTAIN),
    ("1 moderate + 3 supporting", dict(pm=1, pp=3), UNCERTAIN),
    ("5 supporting", dict(pp=5), UNCERTAIN),
    ("1 strong + 2 moderate + 1 supporting", dict(ps=1, pm=2, pp=1), LIKELY_PATHOGENIC),
    ("1 strong + 1 moderate + 3 supporting", dict(ps=1, pm=1, pp=3), LIKELY_PATHOGENIC),
    ("1 benign strong", dict(bs=1), UNCERTAIN),
    ("1 benign supporting", dict(bp=1), UNCERTAIN),
]


@pytest.mark.parametrize("rule, counts, expected", RULES + JUST_SHORT,
                         ids=[r[0] for r in RULES + JUST_SHORT])
def test_each_rule_of_table_5(rule, counts, expected):
    assert suggested_class(met(**counts)) == expected


def table_5(pvs, ps, pm, pp, ba, bs, bp) -> str:
    """Table 5 as printed, read independently of the implementation's structure."""
    pathogenic = any([
        pvs == 1 and ps >= 1, pvs == 1 and pm >= 2, pvs == 1 and pm == 1 and pp == 1,
        pvs == 1 and pp >= 2, ps >= 2, ps == 1 and pm >= 3, ps == 1 and pm == 2 and pp >= 2,
        ps == 1 and pm == 1 and pp >= 4])
    likely_pathogenic = any([
        pvs == 1 and pm == 1, ps == 1 and pm in (1, 2), ps == 1 and pp >= 2, pm >= 3,
        pm == 2 and pp >= 2, pm == 1 and pp >= 4])
    benign = ba == 1 or bs >= 2
    likely_benign = (bs == 1 and bp >= 1) or bp >= 2
    on_pathogenic_side = pathogenic or likely_pathogenic
    on_benign_side = benign or likely_benign
    if on_pathogenic_side and on_benign_side:
        return UNCERTAIN
    if pathogenic:
        return PATHOGENIC
    if likely_pathogenic:
        return LIKELY_PATHOGENIC
    if benign:
        return BENIGN
    if likely_benign:
        return LIKELY_BENIGN
    return UNCERTAIN


def test_every_combination_of_counts_matches_table_5():
    combinations = itertools.product(range(2), range(4), range(7), range(6), range(2), range(4),
                                     range(4))
    checked = 0
    for counts in combinations:
        assert suggested_class(met(*counts)) == table_5(*counts), counts
        checked += 1
    assert checked == 2 * 4 * 7 * 6 * 2 * 4 * 4


@pytest.mark.parametrize("counts", [dict(pvs=1, ps=1, ba=1), dict(ps=2, bp=2),
                                    dict(pm=3, bs=1, bp=1)])
def test_contradictory_evidence_is_uncertain(counts):
    assert suggested_class(met(**counts)) == UNCERTAIN


def test_a_criterion_counts_at_the_strength_it_was_applied_at():
    assert suggested_class([Met("PVS1", "strong"), Met("PM2")]) == LIKELY_PATHOGENIC
    assert suggested_class([Met("PVS1"), Met("PM2", "supporting")]) == UNCERTAIN
    assert suggested_class([Met("PVS1"), Met("PM2", "supporting"), Met("PP3")]) == PATHOGENIC
    assert suggested_class([Met("PS3", "very_strong"), Met("PVS1")]) == PATHOGENIC
    assert suggested_class([Met("PP3", "strong"), Met("PS3")]) == PATHOGENIC
    assert suggested_class([Met("BP4", "strong"), Met("BS1")]) == BENIGN


@pytest.mark.parametrize("code, strength, message", [
    ("PX9", None, "'PX9' is not an ACMG/AMP criterion"),
    ("BS1", "moderate", "BS1 is a benign criterion: it can be applied at stand alone, strong, "
                        "supporting, not moderate"),
    ("PM2", "stand_alone", "PM2 is a pathogenic criterion: it can be applied at very strong, "
                           "strong, moderate, supporting, not stand alone"),
])
def test_it_refuses_what_is_not_a_criterion_or_a_strength_it_can_have(code, strength, message):
    with pytest.raises(CriterionError, match=message):
        Met(code, strength)


def test_each_criterion_counts_once():
    with pytest.raises(CriterionError, match="PM2 given twice"):
        suggested_class([Met("PM2"), Met("PM2", "supporting")])


def test_it_knows_all_28_criteria_at_their_own_strengths():
    assert len(CRITERIA) == 28
    strengths = {code: strength for code, (strength, _) in CRITERIA.items()}
    assert [c for c, s in strengths.items() if s == "very_strong"] == ["PVS1"]
    assert [c for c, s in strengths.items() if s == "stand_alone"] == ["BA1"]
    assert sorted(c for c, s in strengths.items() if s == "strong") == sorted(PS + BS)
