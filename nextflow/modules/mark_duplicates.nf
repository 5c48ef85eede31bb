process MARK_DUPLICATES {
    tag "${sample}"
    label 'process_medium'
    publishDir "${params.outdir}/bam", mode: 'copy', pattern: "${sample}.bam*"
    publishDir "${params.outdir}/qc", mode: 'copy', pattern: "${sample}.markdup.txt"

    input:
    tuple val(sample), path(bam)

    output:
    tuple val(sample), path("${sample}.bam"), path("${sample}.bam.bai"), emit: bam
    tuple val(sample), path("${sample}.markdup.txt"), emit: stats

    script:
    """
    step_hook ${task.process}
    mark_duplicates --sample ${sample} --bam ${bam} --method ${params.markdup} --threads ${task.cpus}
    """
}
