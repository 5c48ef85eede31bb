#!/usr/bin/env bash
set -euo pipefail
normalise --sample SAMPLE --vcf SAMPLE.raw.vcf.gz --reference ref.fa --threads 2
