#!/usr/bin/env bash
set -euo pipefail
annotate --sample SAMPLE --vcf SAMPLE.filtered.vcf.gz --reference ref.fa --annotation genes.gff3 --annotator csq
