#!/usr/bin/env bash
set -euo pipefail
soft_filter --sample SAMPLE --vcf SAMPLE.norm.vcf.gz --min-qual 20 --min-depth 10
