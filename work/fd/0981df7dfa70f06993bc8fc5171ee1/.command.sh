#!/usr/bin/env bash
set -euo pipefail
flagstat --sample SAMPLE --bam SAMPLE.sorted.bam --threads 1
