process NORMALISE {
    tag "${sample}"
    label 'process_low'

    input:
    tuple val(sample), path(vcf), path(tbi)
    path reference
    path reference_index

    output:
    tuple val(sample), path("${sample}.norm.vcf.gz"), path("${sample}.norm.vcf.gz.tbi"), emit: vcf

    script:
    """
    step_hook ${task.process}
    normalise --sample ${sample} --vcf ${vcf} --reference ${reference} --threads ${task.cpus}
    """
}
