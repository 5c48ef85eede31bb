process FINAL_TABLE {
    tag "${sample}"
    label 'process_single'
    publishDir "${params.outdir}", mode: 'copy'

    input:
    tuple val(sample), path(vcf), path(tbi)

    output:
    tuple val(sample), path("${sample}_Final_.txt"), emit: table

    script:
    """
    step_hook ${task.process}
    final_table --sample ${sample} --vcf ${vcf}
    """
}
