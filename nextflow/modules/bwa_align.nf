process BWA_ALIGN {
    tag "${sample}"
    label 'process_high'

    input:
    tuple val(sample), path(r1), path(r2)
    path reference
    path reference_index    // bwa index / .fai found beside the reference; [] when there is none

    output:
    tuple val(sample), path("${sample}.aligned.bam"), emit: bam

    script:
    """
    step_hook ${task.process}
    bwa_align --sample ${sample} --r1 ${r1} --r2 ${r2} --reference ${reference} --threads ${task.cpus}
    """
}
