#!/usr/bin/env bash
set -euo pipefail
mark_duplicates --sample SAMPLE --bam SAMPLE.sorted.bam --method samtools --threads 2
