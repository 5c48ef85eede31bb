"""The simulated sequencer of make_testdata.py: the sample's two haplotypes from the planted
variants, fragments drawn over each capture target at its depth (~8% PCR duplicates, adapter
read-through on short fragments), and 2x100 bp reads with Illumina-like qualities and errors,
written as a gzipped FASTQ pair with fixed gzip headers (same seed -> same bytes)."""

import bisect
import gzip

from genome import revcomp

READ_LEN = 100
ADAPTER_R1 = "AGATCGGAAGAGCACACGTCTGAACTCCAGTCACATCACGATCTCGTATGCCGTCTTCTGCTTG"
ADAPTER_R2 = "AGATCGGAAGAGCGTCGTGTAGGGAAAGAGTGTAGATCTCGGTGGTCGCCGTATCATTAAAAAA"


def haplotypes(seq, chrom_vars):
    """Two haplotype sequences plus coordinate maps (ref pos -> hap pos)."""
    haps = []
    for h in (0, 1):
        pieces, last, marks, shifts, delta = [], 0, [], [], 0
        for v in chrom_vars:
            alts = v["alt"].split(",")
            idx = [int(x) for x in v["gt"].split("/")][h]
            if idx == 0:
                continue
            alt = alts[idx - 1]
            pieces.append(seq[last: v["pos"]])
            pieces.append(alt)
            last = v["pos"] + len(v["ref"])
            delta += len(alt) - len(v["ref"])
            marks.append(v["pos"] + 1)
            shifts.append(delta)
        pieces.append(seq[last:])
        haps.append(("".join(pieces), marks, shifts))
    return haps


def to_hap(pos, marks, shifts):
    k = bisect.bisect_right(marks, pos) - 1
    return pos + (shifts[k] if k >= 0 else 0)


def quality_profiles(rng, n):
    profiles = []
    for _ in range(n):
        drop = rng.random() < 0.05
        qs = []
        for i in range(READ_LEN):
            mean = 36.5 - 9.0 * (i / READ_LEN) ** 2 - (10 if drop and i > 80 else 0)
            qs.append(max(2, min(41, int(round(rng.gauss(mean, 2.2))))))
        profiles.append(("".join(chr(33 + q) for q in qs), [10 ** (-q / 10) for q in qs]))
    return profiles


def sequence_read(rng, template, adapter, profile):
    s = (template + adapter)[:READ_LEN]
    if len(s) < READ_LEN:
        s += "A" * (READ_LEN - len(s))
    qual, perr = profile
    out = list(s)
    for i, p in enumerate(perr):
        if rng.random() < p:
            out[i] = rng.choice([b for b in "ACGT" if b != out[i]])
    return "".join(out), qual


def simulate_reads(rng, seqs, variants, targets, depths):
    """Fragments over each target at its depth (`depths`: one per target)."""
    haps = {c: haplotypes(seqs[c], [v for v in variants if v["chrom"] == c]) for c in seqs}
    frags = []
    for (chrom, s, e), depth in zip(targets, depths):
        n = round(depth * (e - s + 160) / (2 * READ_LEN))
        for _ in range(n):
            centre = rng.randint(s - 80, e + 80)
            h = rng.randint(0, 1)
            hseq, marks, shifts = haps[chrom][h]
            r = rng.random()
            if r < 0.04:
                flen = rng.randint(45, 99)                 # adapter read-through
            else:
                flen = max(120, min(500, int(rng.gauss(260, 45))))
            hc = to_hap(centre, marks, shifts)
            a = max(0, min(len(hseq) - flen, hc - flen // 2))
            frag = hseq[a: a + flen]
            if rng.random() < 0.5:
                frag = revcomp(frag)
            copies = 1 + (rng.random() < 0.08) + (rng.random() < 0.02)
            frags.extend([frag] * copies)
    rng.shuffle(frags)
    return frags


def write_fastq_pair(rng, frags, path1, path2):
    p1 = quality_profiles(rng, 300)
    p2 = quality_profiles(rng, 300)
    out1, out2 = [], []
    for n, frag in enumerate(frags):
        tile = 1101 + (n // 4000)
        x, y = 1000 + (n * 7919) % 30000, 1000 + (n * 104729) % 30000
        name = f"@WESSIM:27:HK7WTDSXY:1:{tile}:{x}:{y}"
        s1, q1 = sequence_read(rng, frag, ADAPTER_R1, rng.choice(p1))
        s2, q2 = sequence_read(rng, revcomp(frag), ADAPTER_R2, rng.choice(p2))
        out1.append(f"{name} 1:N:0:ACGTACGT+TGCATGCA\n{s1}\n+\n{q1}\n")
        out2.append(f"{name} 2:N:0:ACGTACGT+TGCATGCA\n{s2}\n+\n{q2}\n")
    for path, lines in ((path1, out1), (path2, out2)):
        with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw,
                                                    mtime=0, compresslevel=6) as gz:
            gz.write("".join(lines).encode())
