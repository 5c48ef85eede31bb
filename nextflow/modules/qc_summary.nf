process QC_SUMMARY {
    tag "${sample}"
    label 'process_single'
    publishDir "${params.outdir}/qc", mode: 'copy'

    input:
    tuple val(sample), path(fastp_json), path(flagstat), path(markdup), path(bam), path(bai)
    path targets
    path annotation         // GFF3: CDS of each gene for S.gene_coverage.tsv
    path canonical          // canonical transcripts; [] -> each gene's first transcript

    output:
    tuple val(sample), path("${sample}.qc.json"), path("${sample}.gene_coverage.tsv"), emit: qc

    script:
    def canon = canonical ? "--canonical ${canonical}" : ''
    """
    step_hook ${task.process}
    qc_summary --sample ${sample} --fastp-json ${fastp_json} --flagstat ${flagstat} \\
        --markdup ${markdup} --bam ${bam} --targets ${targets} --min-mapq ${params.min_mapq} \\
        --annotation ${annotation} ${canon} \\
        --min-q30-rate ${params.qc_min_q30_rate} --min-mapped-pct ${params.qc_min_mapped_pct} \\
        --max-duplication-pct ${params.qc_max_duplication_pct} \\
        --min-mean-depth ${params.qc_min_mean_depth} \\
        --min-pct-targets-20x ${params.qc_min_pct_targets_20x} \\
        --min-pct-bases-20x ${params.qc_min_pct_bases_20x}
    """
}
