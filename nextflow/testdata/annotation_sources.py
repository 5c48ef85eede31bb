"""Annotation sources for the simulated exome (make_testdata.py): gnomAD- and ClinVar-style VCFs,
an HPO term -> gene table, canonical transcripts, the planted SNVs' HGVS and the reference
bundle declaration (standard library, plus bgzip and tabix from htslib)."""

import json
import os
import random
import shutil
import subprocess
import sys

from genome import COMP, CONTIGS, GENETIC_CODE

# Written after the files of make_testdata.build and drawn from its own random generator
# (seed + ANNOTATION_SEED_OFFSET), so the reference, genes, targets, truth and reads stay
# byte-identical to what this generator wrote before these files existed.

ANNOTATION_SEED_OFFSET = 1011
AA3_NAMES = {"A": "Ala", "R": "Arg", "N": "Asn", "D": "Asp", "C": "Cys", "Q": "Gln", "E": "Glu",
             "G": "Gly", "H": "His", "I": "Ile", "L": "Leu", "K": "Lys", "M": "Met", "F": "Phe",
             "P": "Pro", "S": "Ser", "T": "Thr", "W": "Trp", "Y": "Tyr", "V": "Val", "*": "*"}
CLNSIG = ["Pathogenic", "Likely_pathogenic", "Uncertain_significance", "Likely_benign", "Benign",
          "Conflicting_classifications_of_pathogenicity", "Pathogenic/Likely_pathogenic"]
CLNREVSTAT = ["criteria_provided,_multiple_submitters,_no_conflicts", "reviewed_by_expert_panel",
              "criteria_provided,_single_submitter", "criteria_provided,_conflicting_classifications",
              "no_assertion_criteria_provided"]
HPO_TERMS = [("HP:0001250", "Seizure"), ("HP:0001263", "Global developmental delay"),
             ("HP:0000252", "Microcephaly"), ("HP:0001638", "Cardiomyopathy"),
             ("HP:0000365", "Hearing impairment"), ("HP:0001324", "Muscle weakness"),
             ("HP:0000505", "Visual impairment"), ("HP:0004322", "Short stature")]
SOURCE_VERSIONS = {"gnomad": "4.1-sim", "clinvar": "20240512-sim", "hpo": "2024-04-26-sim"}
GNOMAD_AN = 1461894          # alleles in gnomAD v4.1 exomes (730,947 individuals)


def transcript_models(genes_by_chrom):
    """Per gene: chrom, ids, name, strand, genomic span and its spliced mRNA with the CDS span."""
    models = []
    for chrom, genes in genes_by_chrom.items():
        for g0, gene in genes:
            pre, serial = gene["pre"], gene["gid"]
            mrna = "".join(pre[a:b] for a, b in gene["exons"])
            models.append(dict(chrom=chrom, g0=g0, L=len(pre), strand=gene["strand"],
                               name=gene["name"], serial=serial, exons=gene["exons"],
                               gene_id=f"ENSG{serial:011d}", transcript_id=f"ENST{serial:011d}",
                               mrna=mrna, cds=gene["cds"]))
    return models


def snv_hgvs(model, pos, ref, alt):
    """(hgvs_c, hgvs_p) of an SNV at 0-based genomic pos on this transcript, None if not in an
    exon. The notation is snpEff's: p.Ser78Ser for synonymous, p.Trp22* for stop gained,
    p.Met1? for a lost start; no p. for UTR variants."""
    g0, L, plus = model["g0"], model["L"], model["strand"] == "+"
    t = pos - g0 if plus else g0 + L - 1 - pos
    if not 0 <= t < L:
        return None
    m = 0
    for a, b in model["exons"]:
        if a <= t < b:
            m += t - a
            break
        m += b - a
    else:
        return None                              # intronic
    if not plus:
        ref, alt = ref.translate(COMP), alt.translate(COMP)
    mrna, (c0, c1) = model["mrna"], model["cds"]
    assert mrna[m] == ref, (model["name"], pos, ref, mrna[m])
    if m < c0:
        return f"c.-{c0 - m}{ref}>{alt}", ""
    if m >= c1:
        return f"c.*{m - c1 + 1}{ref}>{alt}", ""
    n = m - c0                                   # 0-based in the CDS
    k = n // 3
    codon = mrna[c0 + 3 * k: c0 + 3 * k + 3]
    new = codon[: n % 3] + alt + codon[n % 3 + 1:]
    before, after = GENETIC_CODE[codon], GENETIC_CODE[new]
    if k == 0 and before == "M" and after != "M":
        protein = "p.Met1?"
    elif before == "*" and after != "*":
        protein = f"p.Ter{k + 1}{AA3_NAMES[after]}ext*?"
    else:
        protein = f"p.{AA3_NAMES[before].replace('*', 'Ter')}{k + 1}{AA3_NAMES[after]}"
    return f"c.{n + 1}{ref}>{alt}", protein


def bgzip_and_index(path):
    """bgzip PATH to PATH.gz and tabix-index it (both from htslib, on PATH)."""
    for tool in ("bgzip", "tabix"):
        if shutil.which(tool) is None:
            sys.exit(f"make_testdata: error: {tool} not found on PATH (htslib; Debian: tabix)")
    subprocess.run(["bgzip", "-f", path], check=True)
    subprocess.run(["tabix", "-f", "-p", "vcf", path + ".gz"], check=True)


def write_annotation_sources(outdir, seed, genes_by_chrom, truth, seqs):
    rng = random.Random(seed + ANNOTATION_SEED_OFFSET)
    order = [c for c, _ in CONTIGS]
    models = transcript_models(genes_by_chrom)

    with open(os.path.join(outdir, "canonical_transcripts.txt"), "w") as fh:
        for m in models:                          # snpEff -canonList: gene_id <TAB> transcript_id
            fh.write(f"{m['gene_id']}\t{m['transcript_id']}\n")

    with open(os.path.join(outdir, "truth_hgvs.tsv"), "w") as fh:
        fh.write("chrom\tpos\tref\talt\tgene\ttranscript\thgvs_c\thgvs_p\n")
        for chrom, pos, ref, alt, _ in truth:
            if len(ref) != 1 or len(alt) != 1:
                continue
            for m in models:
                if m["chrom"] == chrom:
                    found = snv_hgvs(m, pos, ref, alt)
                    if found:
                        fh.write(f"{chrom}\t{pos + 1}\t{ref}\t{alt}\t{m['name']}\t"
                                 f"{m['transcript_id']}\t{found[0]}\t{found[1]}\n")

    # gnomAD: each planted variant common, rare or absent; a decoy with another ALT at some
    # planted positions (must not match); and sites that were not planted at all.
    truth_keys = {(c, p, r, a) for c, p, r, a, _ in truth}
    sites = {}
    for chrom, pos, ref, alt, _ in truth:
        kind = rng.choices(["common", "rare", "absent"], weights=(3, 3, 4))[0]
        if kind != "absent":
            sites[(chrom, pos, ref, alt)] = kind
        if len(ref) == len(alt) == 1 and rng.random() < 0.08:
            other = rng.choice([b for b in "ACGT" if b != ref])
            if (chrom, pos, ref, other) not in truth_keys:
                sites[(chrom, pos, ref, other)] = "rare"
    for _ in range(8):
        m = rng.choice(models)
        a, b = rng.choice(m["exons"])
        t = rng.randint(a, b - 1)
        pos = m["g0"] + t if m["strand"] == "+" else m["g0"] + m["L"] - 1 - t
        ref = seqs[m["chrom"]][pos]
        if any(c == m["chrom"] and p == pos for c, p, _, _, _ in truth):
            continue
        sites[(m["chrom"], pos, ref, rng.choice([x for x in "ACGT" if x != ref]))] = "common"
    path = os.path.join(outdir, "gnomad.vcf")
    with open(path, "w") as fh:
        fh.write("##fileformat=VCFv4.2\n")
        fh.write('##FILTER=<ID=PASS,Description="All filters passed">\n')
        fh.write('##INFO=<ID=AC,Number=A,Type=Integer,Description="Alternate allele count">\n')
        fh.write('##INFO=<ID=AN,Number=1,Type=Integer,Description="Total number of alleles">\n')
        fh.write('##INFO=<ID=AF,Number=A,Type=Float,Description="Alternate allele frequency">\n')
        fh.write('##INFO=<ID=nhomalt,Number=A,Type=Integer,Description="Count of homozygous '
                 'individuals">\n')
        fh.write(f"##source=gnomAD v{SOURCE_VERSIONS['gnomad']} exomes (simulated by "
                 f"make_testdata.py)\n##reference=WESSIM-1\n")
        for chrom, length in CONTIGS:
            fh.write(f"##contig=<ID={chrom},length={length}>\n")
        fh.write("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        for (chrom, pos, ref, alt), kind in sorted(
                sites.items(), key=lambda s: (order.index(s[0][0]), s[0][1], s[0][3])):
            an = GNOMAD_AN - rng.randint(0, 20000)
            af = rng.uniform(0.02, 0.4) if kind == "common" else rng.uniform(1e-6, 9e-4)
            ac = max(1, round(af * an))
            nhom = round(an / 2 * (ac / an) ** 2)
            fh.write(f"{chrom}\t{pos + 1}\t.\t{ref}\t{alt}\t.\tPASS\t"
                     f"AC={ac};AN={an};AF={ac / an:.5g};nhomalt={nhom}\n")
    bgzip_and_index(path)

    # ClinVar: about a quarter of the planted variants, plus records that were not planted.
    serial_of = {m["name"]: m["serial"] for m in models}
    records = []
    for chrom, pos, ref, alt, _ in truth:
        if rng.random() < 0.25:
            gene = next((m["name"] for m in models if m["chrom"] == chrom
                         and m["g0"] <= pos < m["g0"] + m["L"]), None)
            records.append((chrom, pos, ref, alt, gene))
    for _ in range(5):
        m = rng.choice(models)
        a, b = rng.choice(m["exons"])
        pos = m["g0"] + rng.randint(a, b - 1)
        if m["strand"] == "-":
            pos = m["g0"] + m["L"] - 1 - (pos - m["g0"])
        ref = seqs[m["chrom"]][pos]
        if not any(c == m["chrom"] and p == pos for c, p, _, _, _ in truth):
            records.append((m["chrom"], pos, ref, rng.choice([x for x in "ACGT" if x != ref]),
                            m["name"]))
    ids = rng.sample(range(10_000, 3_000_000), len(records))
    path = os.path.join(outdir, "clinvar.vcf")
    with open(path, "w") as fh:
        fh.write("##fileformat=VCFv4.1\n##fileDate=2024-05-12\n##source=ClinVar\n"
                 "##reference=WESSIM-1\n##ID=<Description=\"ClinVar Variation ID\">\n")
        fh.write('##INFO=<ID=ALLELEID,Number=1,Type=Integer,Description="the ClinVar Allele '
                 'ID">\n')
        fh.write('##INFO=<ID=CLNDN,Number=.,Type=String,Description="ClinVar\'s preferred '
                 'disease name for the concept specified by disease identifiers in CLNDISDB">\n')
        fh.write('##INFO=<ID=CLNREVSTAT,Number=.,Type=String,Description="ClinVar review status '
                 'of germline classification for the Variation ID">\n')
        fh.write('##INFO=<ID=CLNSIG,Number=.,Type=String,Description="Aggregate germline '
                 'classification for this single variant; multiple values are separated by a '
                 'vertical bar">\n')
        fh.write('##INFO=<ID=GENEINFO,Number=1,Type=String,Description="Gene(s) for the variant '
                 'reported as gene symbol:gene id. The gene symbol and id are delimited by a '
                 'colon (:) and each pair is delimited by a vertical bar (|)">\n')
        for chrom, length in CONTIGS:
            fh.write(f"##contig=<ID={chrom},length={length}>\n")
        fh.write("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        for (chrom, pos, ref, alt, gene), vid in sorted(
                zip(records, ids), key=lambda r: (order.index(r[0][0]), r[0][1], r[0][3])):
            info = [f"ALLELEID={vid + 15000}",
                    f"CLNDN=Simulated_disorder_{rng.randint(1, 12)}",
                    f"CLNREVSTAT={rng.choice(CLNREVSTAT)}", f"CLNSIG={rng.choice(CLNSIG)}"]
            if gene:
                info.append(f"GENEINFO={gene}:{serial_of[gene]}")
            fh.write(f"{chrom}\t{pos + 1}\t{vid}\t{ref}\t{alt}\t.\t.\t{';'.join(info)}\n")
    bgzip_and_index(path)

    with open(os.path.join(outdir, "phenotype_to_genes.txt"), "w") as fh:
        fh.write("hpo_id\thpo_name\tncbi_gene_id\tgene_symbol\tdisease_id\n")
        for hpo_id, hpo_name in HPO_TERMS:
            for m in sorted(rng.sample(models, rng.randint(3, 7)), key=lambda m: m["serial"]):
                fh.write(f"{hpo_id}\t{hpo_name}\t{m['serial']}\t{m['name']}\t"
                         f"OMIM:{600000 + m['serial'] % 100000 * 7}\n")

    bundle = {"reference": "ref.fa", "targets": "targets.bed", "annotation": "genes.gff3",
              "canonical_transcripts": "canonical_transcripts.txt",
              "sources": {"gnomad": {"file": "gnomad.vcf.gz", "name": "gnomAD (simulated)",
                                     "version": SOURCE_VERSIONS["gnomad"]},
                          "clinvar": {"file": "clinvar.vcf.gz", "name": "ClinVar (simulated)",
                                      "version": SOURCE_VERSIONS["clinvar"]},
                          "hpo": {"file": "phenotype_to_genes.txt", "name": "HPO (simulated)",
                                  "version": SOURCE_VERSIONS["hpo"]}}}
    with open(os.path.join(outdir, "bundle.json"), "w") as fh:
        json.dump(bundle, fh, indent=2)
        fh.write("\n")
