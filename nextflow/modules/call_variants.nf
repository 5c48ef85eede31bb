process CALL_VARIANTS {
    tag "${sample}"
    label 'process_medium'

    input:
    tuple val(sample), path(bam), path(bai)
    path reference
    path reference_index
    path targets
    path known_sites        // GATK only; [] otherwise
    path known_sites_index

    output:
    tuple val(sample), path("${sample}.raw.vcf.gz"), path("${sample}.raw.vcf.gz.tbi"), emit: vcf

    script:
    def known = known_sites ? "--known-sites ${known_sites}" : ''
    """
    step_hook ${task.process}
    call_variants --sample ${sample} --bam ${bam} --reference ${reference} --targets ${targets} \\
        --caller ${params.caller} --min-mapq ${params.min_mapq} --min-baseq ${params.min_baseq} \\
        --threads ${task.cpus} ${known}
    """
}
