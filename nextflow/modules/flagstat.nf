process FLAGSTAT {
    tag "${sample}"
    label 'process_single'
    publishDir "${params.outdir}/qc", mode: 'copy'

    input:
    tuple val(sample), path(bam)

    output:
    tuple val(sample), path("${sample}.flagstat.txt"), emit: flagstat

    script:
    """
    step_hook ${task.process}
    flagstat --sample ${sample} --bam ${bam} --threads ${task.cpus}
    """
}
