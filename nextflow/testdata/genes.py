"""The simulated genome's sequence and gene models, for make_testdata.py: random sequence at a GC
content, mutated repeat copies, protein-coding genes (exons, CDS of sense codons ending in a
stop, UTRs) and their Ensembl-style GFF3 lines (same seed -> same bytes)."""

import bisect

EDGE = 15                    # planted variants stay this far inside exons
STOPS = {"TAA", "TAG", "TGA"}
SENSE = [a + b + c for a in "ACGT" for b in "ACGT" for c in "ACGT" if a + b + c not in STOPS]


def random_seq(rng, n, gc=0.41):
    at, cg = (1 - gc) / 2, gc / 2
    return "".join(rng.choices("ACGT", weights=(at, cg, cg, at), k=n))


def mutate(rng, s, rate):
    out = list(s)
    for i in range(len(out)):
        if rng.random() < rate:
            out[i] = rng.choice([b for b in "ACGT" if b != out[i]])
    return "".join(out)


def make_gene(rng, gid, name, strand):
    """Return (pre-mRNA in transcript orientation, exon spans, cds span, repeat tracts), all in
    transcript coordinates (0-based, half-open)."""
    n_exons = rng.randint(3, 6)
    lengths = [rng.randint(110, 240) for _ in range(n_exons)]
    lengths[0] += rng.randint(40, 90)       # room for the 5' UTR
    lengths[-1] += rng.randint(60, 120)     # and the 3' UTR
    total = sum(lengths)
    u5 = rng.randint(30, 60)
    u3 = rng.randint(40, 80)
    u3 += (total - u5 - u3) % 3             # CDS length multiple of 3
    cds_len = total - u5 - u3
    tracts = []                             # (start, end, unit) in mRNA coordinates
    codons = []
    n_codons = cds_len // 3 - 2
    i = 0
    while i < n_codons:
        if i > 3 and n_codons - i > 12 and rng.random() < 0.006:
            kind = rng.choice(["AAA", "TTT", "CCC", "GGG", "CAG", "GCA", "AGC"])
            copies = rng.randint(2, 3) if len(set(kind)) == 1 else rng.randint(5, 7)
            start = u5 + 3 + 3 * i
            if len(set(kind)) == 1:
                codons.extend([kind] * copies)
                codons.append(rng.choice([c for c in SENSE if c[0] != kind[0]]))
                tracts.append((start, start + 3 * copies, kind[0]))
                i += copies + 1
            else:
                codons.extend([kind] * copies)
                tracts.append((start, start + 3 * copies, kind))
                i += copies
            continue
        codons.append(rng.choice(SENSE))
        i += 1
    cds = "ATG" + "".join(codons)[: cds_len - 6] + rng.choice(sorted(STOPS))
    utr5 = random_seq(rng, u5, 0.5)
    utr3 = random_seq(rng, u3, 0.38)
    # homopolymer / microsatellite tracts in the 3' UTR too
    if u3 > 55:
        unit = rng.choice(["A", "T", "CA", "TG"])
        copies = 9 if len(unit) == 1 else 6
        rep = unit * copies
        at = rng.randint(15, u3 - len(rep) - 15)
        utr3 = utr3[:at] + rep + utr3[at + len(rep):]
        tracts.append((u5 + cds_len + at, u5 + cds_len + at + len(rep), unit))
    mrna = utr5 + cds + utr3
    assert len(mrna) == total and len(cds) == cds_len
    exons, pre, pos = [], [], 0
    for k, ln in enumerate(lengths):
        seg = mrna[sum(lengths[:k]): sum(lengths[:k]) + ln]
        exons.append((pos, pos + ln))
        pre.append(seg)
        pos += ln
        if k < n_exons - 1:
            intron = "GTAAGT" + random_seq(rng, rng.randint(400, 1200), 0.38) + "TTTTCCTTTCAG"
            pre.append(intron)
            pos += len(intron)
    pre = "".join(pre)
    # map mRNA coordinates to pre-mRNA coordinates
    offsets = [exons[k][0] - sum(lengths[:k]) for k in range(n_exons)]
    cum = [sum(lengths[:k]) for k in range(n_exons)]

    def m2p(m):
        k = bisect.bisect_right(cum, m) - 1
        return m + offsets[k]

    ptracts = []
    for s, e, unit in tracts:
        ks, ke = bisect.bisect_right(cum, s) - 1, bisect.bisect_right(cum, e - 1) - 1
        if ks == ke and s - cum[ks] >= EDGE and cum[ks] + lengths[ks] - e >= EDGE:
            ptracts.append((m2p(s), m2p(s) + (e - s), unit))
    cds_span = (m2p(u5), m2p(u5 + cds_len - 1) + 1)
    return dict(pre=pre, exons=exons, lengths=lengths, cds=(u5, u5 + cds_len), m2p=m2p,
                cds_span=cds_span, tracts=ptracts, strand=strand, gid=gid, name=name)


def gff_lines(chrom, g0, gene, serial):
    """Ensembl-style GFF3 records for one gene placed at genomic 0-based offset g0."""
    L = len(gene["pre"])
    strand = gene["strand"]

    def gspan(a, b):  # transcript-orientation [a,b) -> 1-based genomic inclusive
        return (g0 + a + 1, g0 + b) if strand == "+" else (g0 + L - b + 1, g0 + L - a)

    gid, tid, pid = (f"ENSG{serial:011d}", f"ENST{serial:011d}", f"ENSP{serial:011d}")
    name = gene["name"]
    rows = []

    def row(ftype, a, b, attrs, phase="."):
        s, e = gspan(a, b)
        rows.append((s, [chrom, "ensembl", ftype, str(s), str(e), ".", strand, phase, attrs]))

    L_all = (0, L)
    rows_gene = []
    s, e = gspan(*L_all)
    rows_gene.append([chrom, "ensembl_havana", "gene", str(s), str(e), ".", strand, ".",
                      f"ID=gene:{gid};Name={name};biotype=protein_coding;description={name} "
                      f"simulated gene;gene_id={gid};logic_name=ensembl_havana_gene;version=1"])
    rows_gene.append([chrom, "ensembl_havana", "mRNA", str(s), str(e), ".", strand, ".",
                      f"ID=transcript:{tid};Parent=gene:{gid};Name={name}-201;"
                      f"biotype=protein_coding;tag=basic;transcript_id={tid};version=1"])
    c0, c1 = gene["cds"]
    done, cds_before = 0, 0
    for k, (a, b) in enumerate(gene["exons"]):
        ln = b - a
        ms, me = done, done + ln            # exon in mRNA coordinates
        row("exon", a, b, f"Parent=transcript:{tid};Name=ENSE{serial:07d}{k + 1:04d};"
            f"constitutive=1;exon_id=ENSE{serial:07d}{k + 1:04d};rank={k + 1};version=1")
        if ms < c0:
            row("five_prime_UTR", a, a + min(me, c0) - ms, f"Parent=transcript:{tid}")
        cs, ce = max(ms, c0), min(me, c1)
        if cs < ce:
            phase = (3 - cds_before % 3) % 3
            row("CDS", a + cs - ms, a + ce - ms,
                f"ID=CDS:{pid};Parent=transcript:{tid};protein_id={pid}", str(phase))
            cds_before += ce - cs
        if me > c1:
            row("three_prime_UTR", a + max(ms, c1) - ms, b, f"Parent=transcript:{tid}")
        done = me
    rows.sort(key=lambda r: r[0])
    return ["\t".join(r) for r in rows_gene] + ["\t".join(r) for _, r in rows]
