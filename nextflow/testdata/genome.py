"""The simulated genome's shape and DNA helpers shared by make_testdata.py and
annotation_sources.py (standard library only)."""

CONTIGS = [("chr1", 160_000), ("chr2", 110_000), ("chr3", 70_000)]
COMP = str.maketrans("ACGTN", "TGCAN")
GENETIC_CODE = {a + b + c: aa for (a, b, c), aa in zip(
    ((a, b, c) for a in "TCAG" for b in "TCAG" for c in "TCAG"),
    "FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG")}


def revcomp(s):
    return s.translate(COMP)[::-1]
