#!/usr/bin/env python3
"""Measure soft-filter expressions against the truth of a generated sample.

    measure_filters.py truth.vcf calls.vcf.gz [-s 'SOFT_FILTER ARGS' ...] [-e EXPR ...]
                       [--type snv|mnp|indel] [-v]

`calls.vcf.gz` is the VCF before the soft filter (normalise's S.norm.vcf.gz). Each filter set is
either arguments of the pipeline's own `bin/soft_filter` (-s '--min-qual 20 --min-depth 10') or a
bare `bcftools filter -s LowQual -e EXPR` expression (-e, for rules soft_filter does not have).
Every call is matched to the truth on CHROM/POS/REF/ALT. Prints one tab-separated row per set:
true calls kept (PASS), true calls marked (any other FILTER), false calls kept, false calls marked,
truth variants not called at all; with -v, the true calls marked and every false call.
Standard library and bcftools only.
"""

import argparse
import os
import shlex
import subprocess
import sys
import tempfile

SOFT_FILTER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bin", "soft_filter")

DEFAULT_EXPRESSIONS = ["QUAL<20 || INFO/DP<10"]


def kind(ref, alt):
    if len(ref) == len(alt) == 1:
        return "snv"
    return "mnp" if len(ref) == len(alt) else "indel"


def truth_keys(path):
    keys = set()
    with open(path) as fh:
        for line in fh:
            if not line.startswith("#"):
                f = line.split("\t")
                keys.add((f[0], int(f[1]), f[3], f[4]))
    return keys


def filtered(calls, filter_set):
    """[(key, FILTER, QUAL, INFO/DP, FORMAT/GT:AD)] of the calls after the filter set: ("-s",
    soft_filter arguments) or ("-e", expression)."""
    how, value = filter_set
    if how == "-e":
        text = subprocess.run(["bcftools", "filter", "-s", "LowQual", "-e", value, calls, "-Ou"],
                              check=True, capture_output=True).stdout
    else:
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([SOFT_FILTER, "--sample", "S", "--vcf", calls, "--outdir", tmp,
                            *shlex.split(value)], check=True, capture_output=True)
            with open(os.path.join(tmp, "S.filtered.vcf.gz"), "rb") as fh:
                text = fh.read()
    rows = subprocess.run(
        ["bcftools", "query", "-f", "%CHROM\t%POS\t%REF\t%ALT\t%FILTER\t%QUAL\t%INFO/DP\t[%GT:%AD]\n"],
        input=text, check=True, capture_output=True).stdout.decode().splitlines()
    out = []
    for row in rows:
        chrom, pos, ref, alt, filt, qual, dp, sample = row.split("\t")
        out.append(((chrom, int(pos), ref, alt), filt, qual, dp, sample))
    return out


def measure(truth, calls, filter_set, types=("snv", "mnp", "indel")):
    rows = [r for r in filtered(calls, filter_set) if kind(r[0][2], r[0][3]) in types]
    true = [r for r in rows if r[0] in truth]
    false = [r for r in rows if r[0] not in truth]
    called = {r[0] for r in rows}
    return {"true_kept": sum(r[1] == "PASS" for r in true),
            "true_lowqual": sum(r[1] != "PASS" for r in true),
            "false_kept": sum(r[1] == "PASS" for r in false),
            "false_lowqual": sum(r[1] != "PASS" for r in false),
            "not_called": sum(1 for k in truth if k not in called and kind(k[2], k[3]) in types),
            "true_marked": [r for r in true if r[1] != "PASS"],
            "false_records": false}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("truth")
    ap.add_argument("calls")
    ap.add_argument("-s", "--soft-filter", action="append", default=[],
                    help="arguments of bin/soft_filter, quoted as one")
    ap.add_argument("-e", "--expression", action="append", default=[],
                    help="bcftools filter -e expression")
    ap.add_argument("--type", action="append", choices=["snv", "mnp", "indel"])
    ap.add_argument("-v", "--verbose", action="store_true", help="list the true calls marked")
    args = ap.parse_args(argv)
    truth = truth_keys(args.truth)
    types = tuple(args.type or ("snv", "mnp", "indel"))
    sets = [("-s", a) for a in args.soft_filter] + [("-e", e) for e in args.expression]
    print("filter set\ttrue_kept\ttrue_marked\tfalse_kept\tfalse_marked\tnot_called")
    for filter_set in sets or [("-e", e) for e in DEFAULT_EXPRESSIONS]:
        m = measure(truth, args.calls, filter_set, types)
        print("\t".join([" ".join(filter_set)] + [str(m[k]) for k in
                                        ("true_kept", "true_lowqual", "false_kept",
                                         "false_lowqual", "not_called")]))
        if args.verbose:
            for key, filt, qual, dp, sample in m["true_marked"]:
                print(f"  true {filt}: {key[0]}:{key[1]} {key[2]}>{key[3]} QUAL={qual} DP={dp} "
                      f"{sample}")
            for key, filt, qual, dp, sample in m["false_records"]:
                print(f"  false {filt}: {key[0]}:{key[1]} {key[2]}>{key[3]} QUAL={qual} DP={dp} "
                      f"{sample}")


if __name__ == "__main__":
    sys.exit(main())
