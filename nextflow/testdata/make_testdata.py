#!/usr/bin/env python3
"""Deterministic generator of a small simulated exome sample (standard library only).

Writes into OUTDIR:
  ref.fa            3 contigs (~340 kb), ~41% GC, interspersed repeats, homopolymers, microsatellites
  genes.gff3        Ensembl-style protein-coding genes (gene/mRNA/exon/CDS/UTRs) for bcftools csq
  targets.bed       capture targets: exons +/- 20 bp, merged, in reference order
  truth.vcf         planted variants (het/hom SNVs, multi-allelic SNVs, indels, some in repeats),
                    normalised: left-aligned and one ALT per record
  SAMPLE_R1.fastq.gz, SAMPLE_R2.fastq.gz
                    2x100 bp pairs, ~80x over targets, Illumina-like qualities and errors,
                    adapter read-through on short fragments, ~8% PCR duplicates
  manifest.json     counts and seed
With --capture uneven (default uniform, whose bytes stay as they were), drawn from a separate random
generator: per-target depth like a real capture (most targets 25-150x, about one in five 5-15x;
the 24 bp insertion's target at 32x, one MNP's at 12x), and extra planted variants: MNPs (2 or 3
substitutions in one codon on the same haplotype, one truth record each: REF/ALT span the codon
positions changed), a 24 bp in-frame insertion and a 12 bp deletion. manifest.json then also lists
the capture mode, the depth drawn for each target and the truth MNPs.
Annotation sources (written after the files above, from a separate random generator, so adding
them changed none of the bytes above):
  gnomad.vcf.gz(.tbi)      gnomAD-style sites VCF (AC, AN, AF, nhomalt): planted variants, common,
                           rare or absent, plus sites that were not planted
  clinvar.vcf.gz(.tbi)     ClinVar-style VCF (ID = variation id, ALLELEID, CLNSIG, CLNREVSTAT,
                           CLNDN, GENEINFO)
  phenotype_to_genes.txt   HPO-style term -> gene table
  canonical_transcripts.txt  gene id <TAB> transcript id, as snpEff's -canonList reads it
  truth_hgvs.tsv           HGVS c./p. of the planted SNVs in exons, computed from the gene models
                           (in snpEff's notation: p.Ser78Ser, p.Trp22*, p.Met1?)
  bundle.json              the reference bundle declaration (the portal's load_reference)

Same seed -> same bytes. Usage: make_testdata.py OUTDIR [--seed N] [--sample NAME] [--depth X]
                                   [--capture uniform|uneven]
"""

import argparse
import json
import os
import random
import sys

from annotation_sources import write_annotation_sources
from genes import EDGE, STOPS, gff_lines, make_gene, mutate, random_seq
from genome import COMP, CONTIGS, GENETIC_CODE, revcomp
from reads import simulate_reads, write_fastq_pair

PAD = 20                     # target padding around exons
def normalise(seq, pos, ref, alt):
    """Left-align and trim one biallelic variant (0-based pos)."""
    while True:
        changed = False
        if ref and alt and ref[-1] == alt[-1]:
            ref, alt, changed = ref[:-1], alt[:-1], True
        if not ref or not alt:
            pos -= 1
            ref, alt, changed = seq[pos] + ref, seq[pos] + alt, True
        if not changed:
            break
    while len(ref) > 1 and len(alt) > 1 and ref[0] == alt[0]:
        ref, alt, pos = ref[1:], alt[1:], pos + 1
    return pos, ref, alt


def plant_variants(rng, seqs, genes_by_chrom):
    """Choose SNVs and indels inside exons. Returns list of dicts with 0-based pos."""
    variants = []
    taken = {c: [] for c in seqs}

    def free(chrom, s, e, gap):
        return all(e + gap <= a or s >= b + gap for a, b in taken[chrom])

    def add(chrom, pos, ref, alt, gt, span=None):
        s, e = span or (pos, pos + len(ref))
        taken[chrom].append((s, e))
        variants.append(dict(chrom=chrom, pos=pos, ref=ref, alt=alt, gt=gt))

    # indels in homopolymers / microsatellites (one unit inserted or deleted)
    for chrom, genes in genes_by_chrom.items():
        seq = seqs[chrom]
        for g0, gene in genes:
            for ts, te, unit in gene["tracts"]:
                L = len(gene["pre"])
                s, e = (g0 + ts, g0 + te) if gene["strand"] == "+" else (g0 + L - te, g0 + L - ts)
                if gene["strand"] == "-":
                    unit = revcomp(unit)
                if seq[s:e] != unit * ((e - s) // len(unit)) or not free(chrom, s, e, 45):
                    continue
                if rng.random() < 0.3:
                    continue
                mid = s + len(unit) * ((e - s) // len(unit) // 2)   # not left-aligned on purpose
                gt = rng.choice(["0/1", "0/1", "1/1"])
                if rng.random() < 0.5:
                    ref, alt = seq[mid - 1: mid + len(unit)], seq[mid - 1]
                else:
                    ref, alt = seq[mid - 1], seq[mid - 1] + unit
                add(chrom, mid - 1, ref, alt, gt, (s - 1, e + 1))

    # candidate positions well inside exons
    cands = []
    for chrom, genes in genes_by_chrom.items():
        for g0, gene in genes:
            L = len(gene["pre"])
            for a, b in gene["exons"]:
                s, e = (g0 + a, g0 + b) if gene["strand"] == "+" else (g0 + L - b, g0 + L - a)
                cands.extend((chrom, p) for p in range(s + EDGE, e - EDGE))
    rng.shuffle(cands)
    n_snv, n_multi, n_indel = 0, 0, 0
    for chrom, p in cands:
        seq = seqs[chrom]
        ctx = seq[p - 6: p + 7]
        if max(ctx.count(b * 4) for b in "ACGT") or "N" in ctx:
            continue                       # keep random SNVs/indels out of low-complexity bits
        if n_indel < 22 and free(chrom, p - 1, p + 8, 45):
            k = rng.randint(1, 6)
            if rng.random() < 0.5:
                ref, alt = seq[p - 1: p + k], seq[p - 1]
            else:
                ref, alt = seq[p - 1], seq[p - 1] + random_seq(rng, k, 0.45)
            np_, nref, nalt = normalise(seq, p - 1, ref, alt)
            if abs(np_ - (p - 1)) > 0:      # random indels that shift are rare; keep them simple
                continue
            add(chrom, p - 1, ref, alt, rng.choice(["0/1", "0/1", "1/1"]), (p - 2, p + k + 1))
            n_indel += 1
        elif n_multi < 4 and free(chrom, p, p + 1, 35):
            a1, a2 = rng.sample([b for b in "ACGT" if b != seq[p]], 2)
            add(chrom, p, seq[p], a1 + "," + a2, "1/2")
            n_multi += 1
        elif n_snv < 150 and free(chrom, p, p + 1, 35):
            alt = rng.choice([b for b in "ACGT" if b != seq[p]])
            add(chrom, p, seq[p], alt, rng.choice(["0/1", "0/1", "0/1", "1/1", "1/1"]))
            n_snv += 1
        if n_snv >= 150 and n_multi >= 4 and n_indel >= 22:
            break
    variants.sort(key=lambda v: ([c for c, _ in CONTIGS].index(v["chrom"]), v["pos"]))
    return variants


UNEVEN_SEED_OFFSET = 2027
LONG_INSERTION, LONG_DELETION = 24, 12
LONG_INSERTION_DEPTH, LOW_MNP_DEPTH = 32, 12


def cds_codons(genes_by_chrom):
    """Every codon of every CDS lying within one exon, at least EDGE from the exon's ends:
    (chrom, genomic 0-based positions of its 3 bases in transcript order, strand)."""
    out = []
    for chrom, genes in genes_by_chrom.items():
        for g0, gene in genes:
            L, (c0, c1), m2p = len(gene["pre"]), gene["cds"], gene["m2p"]
            for m in range(c0 + 3, c1 - 3, 3):
                p = [m2p(m + i) for i in range(3)]
                if p[2] - p[0] != 2 or not any(a + EDGE <= p[0] and p[2] < b - EDGE
                                               for a, b in gene["exons"]):
                    continue
                g = [g0 + x if gene["strand"] == "+" else g0 + L - 1 - x for x in p]
                out.append((chrom, g, gene["strand"]))
    return out


def plant_uneven_extras(rng, seqs, genes_by_chrom, variants):
    """MNPs in codons and two longer indels, away from the variants already planted."""
    def free(chrom, s, e, gap=45):
        return all(v["chrom"] != chrom or e + gap <= v["pos"] or s >= v["pos"] + len(v["ref"]) + gap
                   for v in variants + extras)

    extras = []
    codons = cds_codons(genes_by_chrom)
    rng.shuffle(codons)
    patterns = [(0, 1), (1, 2), (0, 2), (0, 1, 2)] * 3
    for chrom, g, strand in codons:
        if not patterns:
            break
        seq = seqs[chrom]
        lo, hi = min(g), max(g)
        if not free(chrom, lo, hi + 1) or "N" in seq[lo - 6: hi + 7]:
            continue
        plus = strand == "+"
        codon = "".join(seq[x] if plus else seq[x].translate(COMP) for x in g)
        pattern = patterns[0]
        new = list(codon)
        for i in pattern:
            new[i] = rng.choice([b for b in "ACGT" if b != codon[i]])
        new = "".join(new)
        if new in STOPS or GENETIC_CODE[new] == GENETIC_CODE[codon]:
            continue                       # a missense change, so one consequence is expected
        alt_at = {x: new[i] if plus else new[i].translate(COMP) for i, x in enumerate(g)}
        ref_plus = seq[lo: hi + 1]
        alt_plus = "".join(alt_at[x] for x in range(lo, hi + 1))
        # the bases changed in genomic order; REF/ALT span the first to the last of them
        changed = [k for k in range(3) if ref_plus[k] != alt_plus[k]]
        s0, s1 = lo + changed[0], lo + changed[-1] + 1
        extras.append(dict(chrom=chrom, pos=s0, ref=seq[s0:s1], alt=alt_plus[changed[0]:changed[-1] + 1],
                           gt=rng.choice(["0/1", "0/1", "1/1"])))
        patterns.pop(0)
    for length, insertion in ((LONG_INSERTION, True), (LONG_DELETION, False)):
        for chrom, g, strand in codons[len(codons) // 2:]:
            seq = seqs[chrom]
            p = max(g) + 1 if strand == "+" else min(g)   # between two codons
            if not free(chrom, p - 1, p + length + 1):
                continue
            if insertion:
                ref, alt = seq[p - 1], seq[p - 1] + random_seq(rng, length, 0.45)
            else:
                ref, alt = seq[p - 1: p + length], seq[p - 1]
            if normalise(seq, p - 1, ref, alt) != (p - 1, ref, alt):
                continue                   # keep them at one unambiguous position
            extras.append(dict(chrom=chrom, pos=p - 1, ref=ref, alt=alt, gt="0/1"))
            break
    return extras


def capture_depths(rng, targets, depth, uneven, variants):
    """Per-target depth: `depth` everywhere, or a realistic spread around it (uneven)."""
    if not uneven:
        return [depth] * len(targets)
    depths = []
    for _ in targets:
        if rng.random() < 0.2:
            depths.append(rng.uniform(5, 15))                       # poorly captured
        else:
            depths.append(min(150.0, max(25.0, rng.lognormvariate(0, 0.45) * depth)))

    def target_of(v):
        return next(i for i, (c, s, e) in enumerate(targets) if c == v["chrom"] and s <= v["pos"] < e)

    long_ins = next(v for v in variants if len(v["alt"]) - len(v["ref"]) == LONG_INSERTION)
    depths[target_of(long_ins)] = LONG_INSERTION_DEPTH
    mnp = next(v for v in variants if len(v["ref"]) == len(v["alt"]) > 1 and v["gt"] == "0/1")
    depths[target_of(mnp)] = LOW_MNP_DEPTH
    return [round(d, 1) for d in depths]


def build(outdir, seed, sample, depth, capture="uniform"):
    rng = random.Random(seed)
    os.makedirs(outdir, exist_ok=True)
    alu = random_seq(rng, 290, 0.52) + "A" * 18
    seqs, genes_by_chrom, gff, exons = {}, {}, [], []
    serial = 100001
    for chrom, length in CONTIGS:
        seq = list(random_seq(rng, length))
        # scattered homopolymers and microsatellites in the background
        for _ in range(length // 2500):
            p = rng.randint(100, length - 200)
            unit = rng.choice(["A", "T", "C", "G", "CA", "TA", "GGC", "AAAG"])
            rep = unit * (rng.randint(10, 16) // len(unit) + 2)
            seq[p: p + len(rep)] = rep
        genes, pos = [], rng.randint(2500, 4000)
        while True:
            strand = rng.choice("+-")
            gene = make_gene(rng, serial, f"SIM{serial - 100000}", strand)
            if pos + len(gene["pre"]) + 2500 > length:
                break
            pre = gene["pre"] if strand == "+" else revcomp(gene["pre"])
            seq[pos: pos + len(pre)] = pre
            genes.append((pos, gene))
            gff.extend(gff_lines(chrom, pos, gene, serial))
            L = len(pre)
            for a, b in gene["exons"]:
                exons.append((chrom, *((pos + a, pos + b) if strand == "+" else (pos + L - b, pos + L - a)),
                              f"{gene['name']}"))
            serial += 1
            pos += len(pre) + rng.randint(3000, 7000)
        # interspersed repeat copies (~12% diverged), kept away from genes
        gene_spans = [(g0 - 600, g0 + len(g["pre"]) + 600) for g0, g in genes]
        for _ in range(length // 9000):
            p = rng.randint(200, length - 600)
            if all(p + 320 < a or p > b for a, b in gene_spans):
                copy = mutate(rng, alu, 0.12)
                if rng.random() < 0.5:
                    copy = revcomp(copy)
                seq[p: p + len(copy)] = copy
        seqs[chrom] = "".join(seq)
        genes_by_chrom[chrom] = genes

    variants = plant_variants(rng, seqs, genes_by_chrom)
    uneven = capture == "uneven"
    extra_rng = random.Random(seed + UNEVEN_SEED_OFFSET)
    if uneven:
        variants = sorted(variants + plant_uneven_extras(extra_rng, seqs, genes_by_chrom, variants),
                          key=lambda v: ([c for c, _ in CONTIGS].index(v["chrom"]), v["pos"]))

    # targets: exons +/- PAD, merged, reference order
    order = [c for c, _ in CONTIGS]
    ivs = sorted(((c, max(0, s - PAD), e + PAD, n) for c, s, e, n in exons),
                 key=lambda t: (order.index(t[0]), t[1]))
    targets = []
    for c, s, e, n in ivs:
        if targets and targets[-1][0] == c and s <= targets[-1][2]:
            targets[-1][2] = max(targets[-1][2], e)
        else:
            targets.append([c, s, e, n])

    with open(os.path.join(outdir, "ref.fa"), "w") as fh:
        for chrom, _ in CONTIGS:
            fh.write(f">{chrom}\n")
            s = seqs[chrom]
            fh.write("".join(s[i:i + 60] + "\n" for i in range(0, len(s), 60)))
    with open(os.path.join(outdir, "genes.gff3"), "w") as fh:
        fh.write("##gff-version 3\n")
        for chrom, length in CONTIGS:
            fh.write(f"##sequence-region   {chrom} 1 {length}\n")
        fh.write("#!genome-build WESSIM-1\n")
        fh.write("\n".join(gff) + "\n")
    with open(os.path.join(outdir, "targets.bed"), "w") as fh:
        for n, (c, s, e, name) in enumerate(targets):
            fh.write(f"{c}\t{s}\t{e}\t{name}_t{n + 1}\n")

    truth = []
    for v in variants:
        for alt in v["alt"].split(","):
            pos, ref, a = normalise(seqs[v["chrom"]], v["pos"], v["ref"], alt)
            gt = "1/1" if v["gt"] == "1/1" else "0/1"
            truth.append((v["chrom"], pos, ref, a, gt))
    truth.sort(key=lambda t: (order.index(t[0]), t[1], t[3]))
    with open(os.path.join(outdir, "truth.vcf"), "w") as fh:
        fh.write("##fileformat=VCFv4.2\n##source=make_testdata.py\n")
        fh.write("##reference=ref.fa\n")
        for chrom, length in CONTIGS:
            fh.write(f"##contig=<ID={chrom},length={length}>\n")
        fh.write('##INFO=<ID=TYPE,Number=1,Type=String,Description="SNV or INDEL">\n' if not uneven
                 else '##INFO=<ID=TYPE,Number=1,Type=String,Description="SNV, MNP or INDEL">\n')
        fh.write('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n')
        fh.write(f"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t{sample}\n")
        for chrom, pos, ref, alt, gt in truth:
            kind = "SNV" if len(ref) == len(alt) == 1 else "MNP" if len(ref) == len(alt) else "INDEL"
            fh.write(f"{chrom}\t{pos + 1}\t.\t{ref}\t{alt}\t.\tPASS\tTYPE={kind}\tGT\t{gt}\n")

    spans = [(c, s, e) for c, s, e, _ in targets]
    depths = capture_depths(extra_rng, spans, depth, uneven, variants)
    frags = simulate_reads(rng, seqs, variants, spans, depths)
    write_fastq_pair(rng, frags, os.path.join(outdir, f"{sample}_R1.fastq.gz"),
                     os.path.join(outdir, f"{sample}_R2.fastq.gz"))
    manifest = dict(seed=seed, sample=sample, depth=depth, contigs=dict(CONTIGS),
                    genes=sum(len(g) for g in genes_by_chrom.values()), targets=len(targets),
                    target_bases=sum(e - s for _, s, e, _ in targets), read_pairs=len(frags),
                    truth_snvs=sum(1 for t in truth if len(t[2]) == len(t[3]) == 1),
                    truth_indels=sum(1 for t in truth if len(t[2]) != len(t[3])))
    if uneven:
        manifest.update(capture="uneven", target_depths=depths,
                        truth_mnps=sum(1 for t in truth if len(t[2]) == len(t[3]) > 1))
    with open(os.path.join(outdir, "manifest.json"), "w") as fh:
        json.dump(manifest, fh, indent=2, sort_keys=True)
        fh.write("\n")
    write_annotation_sources(outdir, seed, genes_by_chrom, truth, seqs)
    return manifest


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--sample", default="TEST1")
    ap.add_argument("--depth", type=float, default=80.0, help="mean depth over targets [80]")
    ap.add_argument("--capture", choices=["uniform", "uneven"], default="uniform",
                    help="uniform depth over targets, or uneven like a real capture, with MNPs "
                         "and longer indels [uniform]")
    args = ap.parse_args(argv)
    if not 10 <= args.depth <= 500:
        ap.error("--depth must be between 10 and 500")
    manifest = build(args.outdir, args.seed, args.sample, args.depth, args.capture)
    print(json.dumps(manifest, sort_keys=True))


if __name__ == "__main__":
    sys.exit(main())
