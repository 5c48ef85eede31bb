#!/usr/bin/env bash
set -euo pipefail
call_variants --sample SAMPLE --bam SAMPLE.bam --reference ref.fa --targets targets.bed --caller bcftools --min-mapq 20 --min-baseq 13 --threads 2
