#!/usr/bin/env bash
set -euo pipefail
bwa_align --sample SAMPLE --r1 SAMPLE_R1.trimmed.fastq.gz --r2 SAMPLE_R2.trimmed.fastq.gz --reference ref.fa --threads 2
