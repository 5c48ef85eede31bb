process SOFT_FILTER {
    tag "${sample}"
    label 'process_single'

    input:
    tuple val(sample), path(vcf), path(tbi)

    output:
    tuple val(sample), path("${sample}.filtered.vcf.gz"), path("${sample}.filtered.vcf.gz.tbi"), emit: vcf

    script:
    """
    step_hook ${task.process}
    soft_filter --sample ${sample} --vcf ${vcf} --min-qual ${params.min_qual} --min-depth ${params.min_depth} \
        --indel-gap ${params.indel_gap}
    """
}
