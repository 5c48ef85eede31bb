process SORT_FIXMATE {
    tag "${sample}"
    label 'process_medium'

    input:
    tuple val(sample), path(bam)

    output:
    tuple val(sample), path("${sample}.sorted.bam"), emit: bam

    script:
    """
    step_hook ${task.process}
    sort_fixmate --sample ${sample} --bam ${bam} --threads ${task.cpus}
    """
}
