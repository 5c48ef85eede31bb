process ANNOTATE {
    tag "${sample}"
    label 'process_low'
    publishDir "${params.outdir}/vcf", mode: 'copy'

    input:
    tuple val(sample), path(vcf), path(tbi)
    path reference
    path reference_index
    path annotation

    output:
    tuple val(sample), path("${sample}.vcf.gz"), path("${sample}.vcf.gz.tbi"), emit: vcf

    script:
    def snpeff = params.annotator == 'snpeff'
        ? "--snpeff-jar ${params.snpeff_jar ?: ''} --snpeff-db ${params.snpeff_db ?: ''}" : ''
    """
    annotate --sample ${sample} --vcf ${vcf} --reference ${reference} --annotation ${annotation} \\
        --annotator ${params.annotator} ${snpeff}
    """
}
