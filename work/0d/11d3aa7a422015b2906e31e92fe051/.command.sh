#!/usr/bin/env bash
set -euo pipefail
sort_fixmate --sample SAMPLE --bam SAMPLE.aligned.bam --threads 2
