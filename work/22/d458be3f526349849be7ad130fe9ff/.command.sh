#!/usr/bin/env bash
set -euo pipefail
fastp_qc --sample SAMPLE --r1 TEST1_R1.fastq.gz --r2 TEST1_R2.fastq.gz --threads 2
