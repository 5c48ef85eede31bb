#!/usr/bin/env bash
set -euo pipefail
cat > params.json <<'PARAMS_JSON'
{
  "annotation": "/tmp/td/genes.gff3",
  "annotator": "csq",
  "caller": "bcftools",
  "known_sites": null,
  "markdup": "samtools",
  "max_cpus": 2,
  "min_baseq": 13,
  "min_depth": 10,
  "min_mapq": 20,
  "min_qual": "20",
  "outdir": "/tmp/tdout",
  "r1": "/tmp/td/TEST1_R1.fastq.gz",
  "r2": "/tmp/td/TEST1_R2.fastq.gz",
  "reference": "/tmp/td/ref.fa",
  "reference_build": null,
  "sample": "SAMPLE",
  "targets": "/tmp/td/targets.bed"
}
PARAMS_JSON
write_metadata --sample SAMPLE --runner local --reference ref.fa --annotation genes.gff3 --params params.json --trace /tmp/tdout/pipeline_info/trace.txt --tools fastp,bwa,samtools,bcftools,tabix,bgzip --input r1=TEST1_R1.fastq.gz --input r2=TEST1_R2.fastq.gz --input reference=ref.fa --input targets=targets.bed --input annotation=genes.gff3 --output fastp_json=SAMPLE.fastp.json --output fastp_html=SAMPLE.fastp.html --output flagstat=SAMPLE.flagstat.txt --output bam=SAMPLE.bam --output bai=SAMPLE.bam.bai --output vcf=SAMPLE.vcf.gz --output tbi=SAMPLE.vcf.gz.tbi --output final_table=SAMPLE_Final_.txt
