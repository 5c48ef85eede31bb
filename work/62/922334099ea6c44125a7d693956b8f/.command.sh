#!/usr/bin/env bash
set -euo pipefail
final_table --sample SAMPLE --vcf SAMPLE.vcf.gz
